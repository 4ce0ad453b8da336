package scan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/store"
)

// FatalError stops a run: bad credentials, a missing bucket, a broken
// target. Everything else about a single key is a per-key failure.
type FatalError struct {
	Op  string
	Err error
}

func (e *FatalError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// LineError is a malformed line of a key list.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("keys file %s: line %d: %s", e.File, e.Line, e.Msg)
}

// sideError tags a failure of scan's own calls (existence checks, content
// comparisons) with the side that failed: origin or target.
type sideError struct {
	side mirror.Reason // mirror.ReasonOrigin or reasonTarget
	err  error
}

func (e *sideError) Error() string { return string(e.side) + ": " + e.err.Error() }
func (e *sideError) Unwrap() error { return e.err }

// keyErrorText is a per-key failure's error for the manifest and summary,
// whose reason already names the side of a sideError.
func keyErrorText(err error) string {
	if se, ok := err.(*sideError); ok {
		return se.err.Error()
	}
	return err.Error()
}

// Reasons of per-key failures that are scan's own; a failed copy has the
// mirror's reason (mirror.ReasonLength, mirror.ReasonStore, ...).
const (
	reasonNoRule   mirror.Reason = "no_rule"  // no rule matches a key of a key list
	reasonTarget   mirror.Reason = "target"   // the target failed an existence check or a read
	reasonRedirect mirror.Reason = "redirect" // the rule passes redirects through; nothing was stored
	reasonError    mirror.Reason = "error"
)

// reason is the manifest's classification of a per-key error.
func reason(err error) mirror.Reason {
	var fe *mirror.FailedError
	var re *mirror.RedirectError
	var se *sideError
	switch {
	case errors.As(err, &fe):
		return fe.Reason
	case errors.Is(err, mirror.ErrNoRule):
		return reasonNoRule
	case errors.As(err, &re):
		return reasonRedirect
	case errors.As(err, &se) && se.side == reasonTarget && store.IsInvalid(err):
		return mirror.ReasonTargetRefusedKey
	case errors.As(err, &se):
		return se.side
	}
	return reasonError
}

// fatal decides whether err must stop the whole run: bad credentials, or a
// target bucket that does not exist.
func fatal(err error) bool {
	var fe *FatalError
	var mf *mirror.FailedError
	var se *sideError
	switch {
	case errors.As(err, &fe), store.IsPermission(err):
		return true
	case errors.As(err, &mf):
		return mf.Reason == mirror.ReasonStore && store.IsNotFound(err)
	case errors.As(err, &se):
		return se.side == reasonTarget && store.IsNotFound(err)
	}
	return false
}

// transient reports whether retrying err may help: what the mirror's
// failure says of itself (FailedError.Temporary), else what store says of
// a storage error (5xx, 429/503 SlowDown, timeouts, resets).
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var fe *mirror.FailedError
	if errors.As(err, &fe) {
		return fe.Temporary()
	}
	return store.IsTemporary(err)
}

// backoff returns the delay before attempt (1-based retry number): an
// exponential delay with full jitter, capped at 10s.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 16)
	if d > 10*time.Second || d <= 0 {
		d = 10 * time.Second
	}
	return d/2 + rand.N(d/2+1)
}

// retry runs f until it succeeds, fails for good, or attempts run out.
// onRetry, when not nil, hears about each retried error.
func retry(ctx context.Context, retries int, base time.Duration, onRetry func(error), f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || attempt >= retries || !transient(err) || ctx.Err() != nil {
			return err
		}
		if onRetry != nil {
			onRetry(err)
		}
		t := time.NewTimer(backoff(base, attempt+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

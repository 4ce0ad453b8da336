package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/gcerrors"
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

// keyError is a per-key failure with a short reason for the manifest.
type keyError struct {
	reason string
	err    error
}

func (e *keyError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

func failure(reason string, err error) error { return &keyError{reason, err} }

// errVanished: the source object was listed but is gone.
var errVanished = errors.New("source object no longer exists")

// errNoRule: no rule matches a key of a key list.
var errNoRule = errors.New("no rule matches the key")

// sideError tags an error with the side it came from.
type sideError struct {
	side string // origin or target
	err  error
}

func (e *sideError) Error() string { return e.side + ": " + e.err.Error() }
func (e *sideError) Unwrap() error { return e.err }

func originErr(err error) error {
	if err == nil {
		return nil
	}
	return &sideError{"origin", err}
}

func targetErr(err error) error {
	if err == nil {
		return nil
	}
	return &sideError{"target", err}
}

// fatal decides whether err must stop the whole run.
func fatal(err error) bool {
	var fe *FatalError
	if errors.As(err, &fe) {
		return true
	}
	if store.IsPermission(err) {
		return true
	}
	var se *sideError
	if errors.As(err, &se) && se.side == "target" && store.IsNotFound(err) {
		return true // writing into a bucket that does not exist
	}
	return false
}

// transient reports whether retrying err may help: 5xx, 429/503 SlowDown,
// timeouts, resets, truncated bodies.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var mf *mirror.FailedError
	if errors.As(err, &mf) {
		switch mf.Reason {
		case "network", "timeout", "length", "md5":
			return true
		case "status":
			return mf.Status >= 500 || mf.Status == 429 || mf.Status == 408
		}
		return false
	}
	var ke *keyError
	if errors.As(err, &ke) && (ke.reason == "size" || ke.reason == "md5") {
		return true // the source changed while being read, or a bad transfer
	}
	var sc interface{ HTTPStatusCode() int }
	if errors.As(err, &sc) {
		c := sc.HTTPStatusCode()
		if c >= 500 || c == 429 || c == 408 {
			return true
		}
		if c >= 400 {
			return false
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.ResourceExhausted, gcerrors.DeadlineExceeded, gcerrors.Internal:
		return true
	case gcerrors.NotFound, gcerrors.PermissionDenied, gcerrors.FailedPrecondition, gcerrors.InvalidArgument, gcerrors.AlreadyExists, gcerrors.Unimplemented:
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded)
}

// reason is the manifest's short classification of a per-key error.
func reason(err error) string {
	var ke *keyError
	if errors.As(err, &ke) {
		return ke.reason
	}
	var mf *mirror.FailedError
	if errors.As(err, &mf) {
		return "mirror_" + mf.Reason
	}
	if errors.Is(err, errNoRule) {
		return "no_rule"
	}
	var se *sideError
	if errors.As(err, &se) {
		if se.side == "target" {
			var sc interface{ HTTPStatusCode() int }
			if (errors.As(err, &sc) && sc.HTTPStatusCode() == 400) || gcerrors.Code(err) == gcerrors.InvalidArgument {
				return "target_refused_key"
			}
		}
		return se.side
	}
	return "error"
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

package mirror

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ferry-migrate/ferry/store"
)

// ErrNotFound: the origin has no such object (an HTTP 404, a key missing in
// a bucket origin); serve answers NoSuchKey, scan counts it as gone.
var ErrNotFound = errors.New("origin: not found")

// ErrNoRule: no rule fetches the key (none matches, or it is a HEAD and the
// matching rule has mirror_head false); serve answers NoSuchKey.
var ErrNoRule = errors.New("no back-to-origin rule for the key")

// ErrShutdown is returned by Get and Head once Shutdown or Close began.
var ErrShutdown = errors.New("mirror: shutting down")

// RedirectError is a 3xx passed through because the rule does not follow redirects.
type RedirectError struct {
	Status   int
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("origin redirect %d to %s", e.Status, e.Location)
}

// Reason says in one word why fetching or storing an object failed; it is
// the label of metrics and the reason in journals and failure manifests.
type Reason string

// Failure reasons.
const (
	ReasonStatus           Reason = "status"             // the origin answered neither 200 nor 404
	ReasonNetwork          Reason = "network"            // the connection failed or broke
	ReasonTimeout          Reason = "timeout"            // connect, headers, an idle body, the fill deadline
	ReasonLength           Reason = "length"             // the body's length differs from the announced one
	ReasonMD5              Reason = "md5"                // the body's MD5 differs from the announced one
	ReasonTooLarge         Reason = "too_large"          // over Options.MaxObjectSize
	ReasonRedirectLoop     Reason = "redirect_loop"      // more than 10 redirects
	ReasonRedirectBlocked  Reason = "redirect_blocked"   // a redirect the address policy refuses
	ReasonRefusedKey       Reason = "refused_key"        // the rules cannot map the key onto the origin
	ReasonRule             Reason = "rule"               // the rule's origin cannot be used
	ReasonOrigin           Reason = "origin"             // a bucket origin failed
	ReasonOriginOpen       Reason = "origin_open"        // a bucket origin could not be opened
	ReasonSpool            Reason = "spool"              // the fill's spool file failed
	ReasonStore            Reason = "store"              // the target write failed
	ReasonTargetRefusedKey Reason = "target_refused_key" // the target refused the key as invalid
	ReasonCanceled         Reason = "canceled"           // Shutdown cancelled the fill
	ReasonInternal         Reason = "internal"
)

// Temporary reports whether a failure for this reason alone may go away on
// a second attempt: a broken connection, a timeout, a body that arrived
// short or wrong. (FailedError.Temporary also looks at the status and the
// cause.)
func (r Reason) Temporary() bool {
	switch r {
	case ReasonNetwork, ReasonTimeout, ReasonLength, ReasonMD5:
		return true
	}
	return false
}

// FailedError is any other failure (serve answers 424 MirrorFailed): a
// non-200 status, network error, timeout, integrity or size check, or the
// target write.
type FailedError struct {
	Status int // origin status, 0 when none
	Reason Reason
	Err    error
}

func (e *FailedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("mirror failed (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("mirror failed (%s)", e.Reason)
}

func (e *FailedError) Unwrap() error { return e.Err }

// Temporary reports whether a retry may help: a temporary reason, an origin
// answering 5xx, 429 or 408, or a bucket origin or target failing for a
// reason store.IsTemporary calls temporary (503 SlowDown, a reset).
func (e *FailedError) Temporary() bool {
	switch e.Reason {
	case ReasonStatus:
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
	case ReasonOrigin, ReasonOriginOpen, ReasonStore:
		return store.IsTemporary(e.Err)
	}
	return e.Reason.Temporary()
}

func failed(status int, r Reason, err error) *FailedError {
	return &FailedError{Status: status, Reason: r, Err: err}
}

// Outcome is how a fill ended, as the journal and the metrics name it.
type Outcome string

// Fill outcomes.
const (
	OutcomeStored   Outcome = "stored"    // fetched and stored
	OutcomeExists   Outcome = "exists"    // fetched; the target had the key already (create-only lost)
	OutcomeNotFound Outcome = "not_found" // the origin has no such object
	OutcomeRedirect Outcome = "redirect"  // a 3xx passed through
	OutcomeFailed   Outcome = "failed"    // see the Reason
)

// outcome classifies a finished fill.
func outcome(err error, stored bool) (Outcome, Reason) {
	var fe *FailedError
	var re *RedirectError
	switch {
	case err == nil && stored:
		return OutcomeStored, ""
	case err == nil:
		return OutcomeExists, ""
	case errors.Is(err, ErrNotFound):
		return OutcomeNotFound, ""
	case errors.As(err, &re):
		return OutcomeRedirect, ""
	case errors.As(err, &fe):
		return OutcomeFailed, fe.Reason
	}
	return OutcomeFailed, ReasonInternal
}

// Observer hears about fills, for metrics. It is called from fill
// goroutines: implementations must be safe for concurrent use and fast.
type Observer interface {
	FillStarted()
	FillDone(o Outcome, r Reason, bytes int64, d time.Duration)
	Coalesced()          // a request joined a fill in flight
	OriginBytes(n int64) // bytes read from an origin (fills and copies)
	InFlight(delta int)  // fills running
}

// NoObserver is an Observer that ignores everything.
type NoObserver struct{}

func (NoObserver) FillStarted()                                   {}
func (NoObserver) FillDone(Outcome, Reason, int64, time.Duration) {}
func (NoObserver) Coalesced()                                     {}
func (NoObserver) OriginBytes(int64)                              {}
func (NoObserver) InFlight(int)                                   {}

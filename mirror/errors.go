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

// ErrProxyOnly: Copy found that the key's rule has store: false, so nothing
// is fetched or stored (scan and finalize treat it as a key no rule
// copies). It wraps ErrNoRule.
var ErrProxyOnly = fmt.Errorf("%w that stores: the rule has store: false", ErrNoRule)

// RedirectError is a 3xx passed through because the rule does not follow redirects.
type RedirectError struct {
	Status   int
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("origin redirect %d to %s", e.Status, e.Location)
}

// PassError is an origin answer passed on to the client because its status
// is in the rule's pass_status: its status, what the origin said about the
// body (content headers; Size is len(Body), or the announced length for a
// HEAD) and the body itself, at most MaxPassBody bytes. Nothing is stored.
type PassError struct {
	Status int
	Meta   store.Meta
	Body   []byte
}

func (e *PassError) Error() string {
	return fmt.Sprintf("origin answered %d %s (passed on: pass_status)", e.Status, http.StatusText(e.Status))
}

// MaxPassBody is the largest body of a pass_status answer; a longer one is a
// failure (reason too_large), since the answer is held in memory for every
// request that shares the fill.
const MaxPassBody = 1 << 20

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
	OutcomePassed   Outcome = "passed"    // a pass_status answer passed through
	OutcomeFailed   Outcome = "failed"    // see the Reason
)

// outcome classifies a finished fill.
func outcome(err error, stored bool) (Outcome, Reason) {
	var fe *FailedError
	var re *RedirectError
	var pe *PassError
	switch {
	case err == nil && stored:
		return OutcomeStored, ""
	case err == nil:
		return OutcomeExists, ""
	case errors.Is(err, ErrNotFound):
		return OutcomeNotFound, ""
	case errors.As(err, &re):
		return OutcomeRedirect, ""
	case errors.As(err, &pe):
		return OutcomePassed, ""
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

	// OriginAnswered: origin number n (1-based, in the rule's origins
	// order) gave the answer a fill, copy, proxied request or origin HEAD
	// went on with (any status).
	OriginAnswered(n int)
	// Failover: origin n failed in a way failover_on names (reason network,
	// timeout or status) and origin n+1 is tried.
	Failover(n int, r Reason)
	// Proxied: a request under a store: false rule got the object from the
	// origin; it is streamed and not stored.
	Proxied()
	// Ranged: a Range GET far beyond a fill's bytes was sent to the origin
	// as a ranged request; served false means the origin's answer could not
	// be used and the reader waits for the fill instead.
	Ranged(served bool)
	// UploadsSwept: after a failed write, or at startup for the fills of a
	// serve process that died, the mirror aborted this many multipart
	// uploads that the SDK could not abort (uploads.go); err is not nil
	// when it could not list or abort them all (they may stay pending).
	UploadsSwept(aborted int, err error)
}

// NoObserver is an Observer that ignores everything.
type NoObserver struct{}

func (NoObserver) FillStarted()                                   {}
func (NoObserver) FillDone(Outcome, Reason, int64, time.Duration) {}
func (NoObserver) Coalesced()                                     {}
func (NoObserver) OriginBytes(int64)                              {}
func (NoObserver) InFlight(int)                                   {}
func (NoObserver) OriginAnswered(int)                             {}
func (NoObserver) Failover(int, Reason)                           {}
func (NoObserver) Proxied()                                       {}
func (NoObserver) Ranged(bool)                                    {}
func (NoObserver) UploadsSwept(int, error)                        {}

package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// openFrom is open that also returns the 0-based origin whose answer it
// returns (the last one tried when none answered; -1 for a request's origin
// bucket). It tries the rule's origins in order and moves on to the next
// one only when an attempt fails in a way the rule's failover_on names.
// Every attempt ends before its body is read: once an origin's 200 is
// returned, the fill is committed to that origin, whatever happens to the
// body (its bytes may already be with clients).
func (g *origins) openFrom(ctx context.Context, method string, rt route, req Request) (*originBody, int, error) {
	if rt.rule == nil {
		o, err := g.openBucket(ctx, method, req.Origin, req.Key)
		return o, -1, err
	}
	n := len(rt.rule.Origins())
	for i := 0; ; i++ {
		last := i >= n-1
		o, err := g.openAt(ctx, method, rt.rule, req, i, last)
		if err == nil || last || ctx.Err() != nil || !failsOver(rt.rule, err) {
			if answered(err) {
				g.opts.Observer.OriginAnswered(i + 1)
			}
			if err != nil && n > 1 {
				err = fmt.Errorf("origin %d of %d: %w", i+1, n, err)
			}
			return o, i, err
		}
		g.opts.Observer.Failover(i+1, failoverReason(err))
		g.opts.Logger.Info("origin failed, trying the next one", "key", req.Key, "origin", i+1, "of", n, "err", err)
	}
}

// failsOver reports whether an attempt's error moves a fill of rule r on to
// the next origin under its failover_on.
func failsOver(r *rules.Rule, err error) bool {
	var fe *FailedError
	switch {
	case errors.Is(err, ErrNotFound):
		return r.FailoverOnStatus(http.StatusNotFound)
	case !errors.As(err, &fe):
		return false
	}
	switch fe.Reason {
	case ReasonStatus:
		return fe.Status >= 400 && r.FailoverOnStatus(fe.Status)
	case ReasonNetwork, ReasonOrigin, ReasonOriginOpen:
		return r.FailoverOnError(false)
	case ReasonTimeout:
		return r.FailoverOnError(true)
	}
	return false
}

// failoverReason is the metrics' reason of a failover: network, timeout or
// status.
func failoverReason(err error) Reason {
	var fe *FailedError
	if errors.As(err, &fe) {
		switch fe.Reason {
		case ReasonTimeout, ReasonStatus:
			return fe.Reason
		}
		return ReasonNetwork
	}
	return ReasonStatus // a 404
}

// answered reports whether an attempt's outcome is an answer of the origin
// (a status), as opposed to no answer (network, timeout, a refused key).
func answered(err error) bool {
	var fe *FailedError
	var re *RedirectError
	var pe *PassError
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.As(err, &re), errors.As(err, &pe):
		return true
	case errors.As(err, &fe):
		return fe.Status != 0
	}
	return false
}

// passed reads a pass_status answer (at most MaxPassBody bytes of body,
// under the idle timeout) into a *PassError; a body that is too long, breaks
// off or differs from its Content-Length is a *FailedError instead. It
// closes resp.Body.
func (g *origins) passed(method string, resp *http.Response, cancel context.CancelFunc) error {
	meta := store.MetaFromHeader(resp.Header, resp.ContentLength)
	pe := &PassError{Status: resp.StatusCode, Meta: meta}
	if method == http.MethodHead {
		_ = resp.Body.Close()
		pe.Meta.Size = -1
		if n, err := parseLength(resp.Header.Get("Content-Length")); err == nil {
			pe.Meta.Size = n
		}
		return pe
	}
	if resp.ContentLength > MaxPassBody {
		drain(resp.Body)
		return failed(resp.StatusCode, ReasonTooLarge, fmt.Errorf("pass_status answer of %d bytes, over the %d byte limit", resp.ContentLength, MaxPassBody))
	}
	body := newIdleBody(resp.Body, g.opts.IdleTimeout, cancel)
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, MaxPassBody+1))
	switch {
	case err != nil:
		return failed(resp.StatusCode, ReasonNetwork, fmt.Errorf("pass_status answer: %w", err))
	case len(b) > MaxPassBody:
		return failed(resp.StatusCode, ReasonTooLarge, fmt.Errorf("pass_status answer over the %d byte limit", MaxPassBody))
	case resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength:
		return failed(resp.StatusCode, ReasonLength, fmt.Errorf("pass_status answer of %d of %d bytes", len(b), resp.ContentLength))
	}
	pe.Body = b
	pe.Meta.Size = int64(len(b))
	return pe
}

// acceptsRanges reports whether an answer says Accept-Ranges: bytes.
func acceptsRanges(h http.Header) bool {
	for _, v := range h.Values("Accept-Ranges") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "bytes") {
				return true
			}
		}
	}
	return false
}

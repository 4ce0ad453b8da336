package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ferry-migrate/ferry/store"
)

// ProbeResult is an origin's answer to the request a fill of one key sends,
// sent as a HEAD: nothing is read or stored.
type ProbeResult struct {
	Rule int // 0-based index of the rule that matched

	// HTTP origins.
	Status     int         // the answer's status
	StatusText string      // e.g. "200 OK"
	Header     http.Header // the answer's headers (a redirect not followed: its Location)
	Redirects  int         // redirects followed on the way
	Passed     bool        // a redirect passed through (follow_redirects: false)
	URL        string      // where the answer came from, redacted

	// Bucket origins.
	Meta *store.Meta // the object's, when it exists
}

// OK reports whether a fill would go on with this answer: a 2xx, or a 3xx
// passed through by a rule that does not follow redirects.
func (p *ProbeResult) OK() bool {
	return p.Meta != nil || p.Passed || (p.Status >= 200 && p.Status < 300)
}

// Probe sends the request a fill of req.Key would send to the rule's first
// origin (no failover), as a HEAD: the same rule, URL, headers, Via token
// and User-Agent, through the same transports (the address policy for redirects to other hosts) and the same
// redirect handling, configured by o as a Mirror would be (o.Target is not
// used). A bucket origin is asked for the object's attributes. Any HTTP
// answer is a result; errors: ErrNoRule, ErrNotFound (bucket origins only),
// *FailedError (refused keys, network errors, timeouts, blocked redirects).
func Probe(ctx context.Context, o Options, req Request) (*ProbeResult, error) {
	o = o.withDefaults()
	g := newOrigins(o)
	defer g.close()
	rt, err := match(req, http.MethodGet)
	if err != nil {
		return nil, err
	}
	oreq, err := g.request(rt.rule, 0, req)
	if err != nil {
		return nil, err
	}
	res := &ProbeResult{Rule: rt.index}
	if oreq.BucketURL != "" {
		ob, err := g.openAt(ctx, http.MethodHead, rt.rule, req, 0, true)
		if err != nil {
			return nil, err
		}
		_ = ob.body.Close()
		res.Meta = &ob.meta
		return res, nil
	}
	resp, hops, err := g.doHTTP(ctx, http.MethodHead, oreq, rt.rule.FollowRedirects)
	var re *RedirectError
	if errors.As(err, &re) {
		res.Status, res.StatusText = re.Status, fmt.Sprintf("%d %s", re.Status, http.StatusText(re.Status))
		res.Header, res.Passed = http.Header{"Location": {re.Location}}, true
		res.URL = oreq.URL.Redacted()
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	drain(resp.Body)
	res.Status, res.StatusText, res.Header, res.Redirects = resp.StatusCode, resp.Status, resp.Header, hops
	res.URL = resp.Request.URL.Redacted()
	return res, nil
}

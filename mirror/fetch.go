package mirror

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// originBody is an origin's 200 answer: what it said about the object
// (including the MD5 its body must have) and its body, guarded by the idle
// timeout.
type originBody struct {
	status int
	meta   store.Meta
	body   *idleBody
	// acceptRanges: an HTTP origin that said Accept-Ranges: bytes, or a
	// rule's bucket origin, so a reader far ahead of a fill may ask it for
	// its range (see ranged.go).
	acceptRanges bool
}

// origins sends origin requests: the HTTP clients, the bucket origins and
// how the request for a key is built. A Mirror and Probe share it, so that
// `ferry rules test --fetch` sends what a fill sends.
type origins struct {
	opts    Options
	trusted *http.Client // the rule's configured origin host
	guarded *http.Client // hosts reached by a cross-host redirect
	buckets bucketCache

	// originRequest builds the request to origin i of a rule
	// (rules.OriginRequestAt; tests may swap it).
	originRequest func(r *rules.Rule, i int, key string, client http.Header, rawQuery string) (*rules.Request, error)
}

// newOrigins returns the origin side for options with their defaults.
func newOrigins(o Options) *origins {
	return &origins{
		opts:          o,
		trusted:       newClient(o, false),
		guarded:       newClient(o, !o.AllowPrivateRedirects),
		buckets:       bucketCache{open: o.OpenBucket},
		originRequest: rules.OriginRequestAt,
	}
}

// close drops idle origin connections and closes the cached bucket origins.
func (g *origins) close() error {
	g.trusted.CloseIdleConnections()
	g.guarded.CloseIdleConnections()
	return g.buckets.close()
}

// newClient returns the HTTP client for origin requests: its own transport
// (no proxy from the environment, no transparent decompression, many idle
// connections per host, connect and header timeouts) and no automatic
// redirects (doHTTP follows them itself). A guarded client refuses
// non-public addresses at dial time.
func newClient(o Options, guarded bool) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            newDial(o.ConnectTimeout, guarded, o.mapAddr),
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    o.ConnectTimeout,
		ResponseHeaderTimeout:  o.HeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// route is where a request's object comes from: rule (index, 0-based) of
// the request's set, or, with a nil rule, the request's origin bucket.
type route struct {
	index int
	rule  *rules.Rule
}

// match finds req's route: the first rule of its set whose conditions hold
// for its key and client headers (a HEAD needs one with mirror_head), or its
// origin bucket. Errors: ErrNoRule.
func match(req Request, method string) (route, error) {
	if req.Origin != nil {
		return route{index: -1}, nil
	}
	i, r := req.Rules.MatchRequest(req.Key, req.Header)
	if r == nil || (method == http.MethodHead && !r.MirrorHead) {
		return route{}, ErrNoRule
	}
	return route{index: i, rule: r}, nil
}

// open sends the origin request for req (GET or HEAD) along rt, trying the
// rule's origins in order (see openFrom), and classifies the answer: a 200
// gives an originBody (whose body the caller closes); 404 gives
// ErrNotFound; a 3xx not followed gives *RedirectError; a pass_status answer
// *PassError; anything else *FailedError. ctx bounds the whole request
// including the body.
func (g *origins) open(ctx context.Context, method string, rt route, req Request) (*originBody, error) {
	o, _, err := g.openFrom(ctx, method, rt, req)
	return o, err
}

// openAt sends the origin request for req to origin i (0-based) of rule r,
// one attempt. last says whether a failover could still follow: only the
// answer of the last origin to try is passed on by pass_status when
// failover_on also names its status.
func (g *origins) openAt(ctx context.Context, method string, r *rules.Rule, req Request, i int, last bool) (*originBody, error) {
	oreq, err := g.request(r, i, req)
	if err != nil {
		return nil, err
	}
	if oreq.BucketURL != "" {
		b, err := g.buckets.get(ctx, oreq.BucketURL)
		if err != nil {
			return nil, failed(0, ReasonOriginOpen, err)
		}
		o, err := g.openBucket(ctx, method, b, oreq.Key)
		if err == nil {
			o.acceptRanges = true // a rule's bucket origin: ranged reads (ranged.go)
		}
		return o, err
	}
	pass := func(status int) bool {
		return r.PassesStatus(status) && (last || !r.FailoverOnStatus(status))
	}
	return g.openHTTP(ctx, method, oreq, r.FollowRedirects, pass)
}

// request builds the origin request for req to origin i of rule r.
func (g *origins) request(r *rules.Rule, i int, req Request) (*rules.Request, error) {
	oreq, err := g.originRequest(r, i, req.Key, req.Header, req.RawQuery)
	switch {
	case errors.Is(err, rules.ErrKeyRefused):
		return nil, failed(0, ReasonRefusedKey, err)
	case err != nil:
		return nil, failed(0, ReasonRule, err)
	case oreq.BucketURL == "" && oreq.URL == nil:
		return nil, failed(0, ReasonRule, errors.New("origin request has neither URL nor bucket"))
	}
	return oreq, nil
}

// openHTTP sends oreq and classifies the answer (see open); pass says which
// statuses are passed on as *PassError.
func (g *origins) openHTTP(ctx context.Context, method string, oreq *rules.Request, follow bool, pass func(int) bool) (*originBody, error) {
	rctx, cancel := context.WithCancel(ctx)
	resp, _, err := g.doHTTP(rctx, method, oreq, follow)
	if err != nil {
		cancel()
		return nil, err
	}
	fail := func(err error) (*originBody, error) {
		drain(resp.Body)
		cancel()
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return fail(ErrNotFound)
	default:
		if pass(resp.StatusCode) {
			err := g.passed(method, resp, cancel)
			cancel()
			return nil, err
		}
		return fail(failed(resp.StatusCode, ReasonStatus, fmt.Errorf("origin answered %s", resp.Status)))
	}
	o := &originBody{status: resp.StatusCode, meta: store.MetaFromHeader(resp.Header, resp.ContentLength),
		acceptRanges: acceptsRanges(resp.Header)}
	if method == http.MethodHead {
		o.meta.Size = -1
		if n, err := parseLength(resp.Header.Get("Content-Length")); err == nil {
			o.meta.Size = n
		}
	}
	if v := resp.Header.Get("Content-MD5"); v != "" {
		sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(sum) != 16 {
			return fail(failed(resp.StatusCode, ReasonMD5, fmt.Errorf("origin sent an invalid Content-MD5 %q", v)))
		}
		o.meta.MD5 = sum
	}
	if o.meta.Size > g.opts.MaxObjectSize {
		return fail(g.tooLarge(resp.StatusCode, o.meta.Size))
	}
	o.body = newIdleBody(resp.Body, g.opts.IdleTimeout, cancel)
	return o, nil
}

func (g *origins) tooLarge(status int, size int64) error {
	return failed(status, ReasonTooLarge, fmt.Errorf("origin object is %d bytes, over the %d byte limit", size, g.opts.MaxObjectSize))
}

func parseLength(s string) (int64, error) {
	var n int64
	if s == "" {
		return 0, errors.New("empty")
	}
	for _, c := range s {
		if c < '0' || c > '9' || n > (1<<62)/10 {
			return 0, errors.New("bad length")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// drain reads a little of a body so its connection can be reused, and closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// sameOrigin reports whether a and b name the same scheme, host and port
// (an absent port is the scheme's default). Only the rule's own origin is
// trusted: another port on the same host (an admin port, a database) is a
// different destination and goes through the address policy.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && rules.EffectivePort(a) == rules.EffectivePort(b)
}

// addsSlash reports whether next is cur with only a "/" added to its path:
// a web server's answer for a directory (GET /img -> 301 /img/), not an
// object.
func addsSlash(cur, next *url.URL) bool {
	return sameOrigin(cur, next) && next.Path == cur.Path+"/" && next.RawQuery == cur.RawQuery
}

// numericHost reports whether host is an IPv4 address in one of the
// spellings inet_aton accepts besides the dotted quad (2130706433,
// 0177.0.0.1, 0x7f.1): resolvers differ on these, so a redirect to one is
// refused outright rather than left to the resolver.
func numericHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return false
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		digits := p
		if len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X") {
			digits = p[2:]
			if strings.Trim(digits, "0123456789abcdefABCDEF") != "" {
				return false
			}
			continue
		}
		if digits == "" || strings.Trim(digits, "0123456789") != "" {
			return false
		}
	}
	return true
}

// doHTTP sends the request and follows redirects itself (at most 10 hops),
// returning the final answer and the number of redirects followed. Hops to
// the configured origin (same scheme, host and port) use the trusted client
// with the rule's headers; hops anywhere else use the guarded client
// (non-public addresses refused at dial time) and drop credentials and
// cookies. A redirect that only adds a trailing slash is ErrNotFound.
func (g *origins) doHTTP(ctx context.Context, method string, oreq *rules.Request, follow bool) (*http.Response, int, error) {
	origin := oreq.URL
	u := *oreq.URL
	for hop := 0; ; hop++ {
		same := sameOrigin(&u, origin)
		if !same && numericHost(u.Hostname()) {
			return nil, hop, failed(0, ReasonRedirectBlocked, fmt.Errorf("redirect to %q: numeric host spellings are not followed", u.Host))
		}
		r, err := g.newHop(ctx, method, &u, oreq, same)
		if err != nil {
			return nil, hop, failed(0, ReasonRule, err)
		}
		client := g.trusted
		if !same {
			client = g.guarded
		}
		resp, err := client.Do(r)
		if err != nil {
			return nil, hop, classifyRequestErr(err)
		}
		if !isRedirect(resp.StatusCode) {
			return resp, hop, nil
		}
		next, err := nextHop(resp, &u, follow, hop)
		if err != nil {
			return nil, hop, err
		}
		u = *next
	}
}

// newHop builds one hop's request: the rule's headers (without credentials
// for another host), its Host for the configured origin, the Via token and
// exactly one User-Agent.
func (g *origins) newHop(ctx context.Context, method string, u *url.URL, oreq *rules.Request, same bool) (*http.Request, error) {
	r, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	r.Header = make(http.Header, len(oreq.Header)+2)
	for k, v := range oreq.Header {
		if !same && isCredential(k) {
			continue
		}
		r.Header[k] = append([]string(nil), v...)
	}
	if same && oreq.Host != "" {
		r.Host = oreq.Host
	}
	if via := g.opts.Via; via != "" {
		if !strings.Contains(via, " ") {
			via = "1.1 " + via
		}
		r.Header.Add("Via", via)
	}
	// Rules keep the configured case of header names; find a User-Agent
	// in any case so Go does not add its own next to it.
	if ua := rules.HeaderValues(r.Header, "User-Agent"); len(ua) == 0 {
		r.Header.Set("User-Agent", "ferry-mirror")
	} else if _, canonical := r.Header["User-Agent"]; !canonical {
		for k := range r.Header {
			if strings.EqualFold(k, "User-Agent") {
				delete(r.Header, k)
			}
		}
		r.Header["User-Agent"] = ua
	}
	return r, nil
}

// nextHop decides what a redirect answer (already read) leads to: the next
// URL, or the error that ends the request (*RedirectError when the rule does
// not follow redirects).
func nextHop(resp *http.Response, cur *url.URL, follow bool, hop int) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	drain(resp.Body)
	status := resp.StatusCode
	switch {
	case loc == "":
		return nil, failed(status, ReasonStatus, fmt.Errorf("origin answered %d without a Location", status))
	case !follow:
		return nil, &RedirectError{Status: status, Location: loc}
	case hop == maxRedirects:
		return nil, failed(status, ReasonRedirectLoop, fmt.Errorf("more than %d redirects", maxRedirects))
	}
	next, err := cur.Parse(loc)
	if err != nil {
		return nil, failed(status, ReasonRedirectBlocked, fmt.Errorf("bad Location %q: %v", loc, err))
	}
	if next.Scheme != "http" && next.Scheme != "https" {
		return nil, failed(status, ReasonRedirectBlocked, fmt.Errorf("redirect to %q: only http and https are followed", loc))
	}
	next.Fragment, next.RawFragment = "", ""
	next.User = nil
	if addsSlash(cur, next) {
		return nil, ErrNotFound // a directory: no object under this key
	}
	return next, nil
}

// isCredential reports headers never sent to a host reached by a redirect.
func isCredential(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "Cookie", "Proxy-Authorization", "Cookie2":
		return true
	}
	return false
}

func classifyRequestErr(err error) *FailedError {
	switch {
	case errors.Is(err, errBlockedAddress):
		return failed(0, ReasonRedirectBlocked, err)
	case isTimeout(err):
		return failed(0, ReasonTimeout, err)
	case errors.Is(err, context.Canceled):
		return failed(0, ReasonCanceled, err)
	}
	return failed(0, ReasonNetwork, err)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errIdle) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errIdle is returned by an idleBody whose origin sent nothing for too long.
var errIdle = errors.New("origin sent no data within the idle timeout")

// idleBody fails reads when no byte arrived for d: a timer, reset after every
// successful read, cancels the request context. It bounds silence, not the
// total time, so slow but steady transfers succeed.
type idleBody struct {
	r      io.ReadCloser
	d      time.Duration
	t      *time.Timer
	fired  atomic.Bool
	cancel context.CancelFunc
	once   sync.Once
}

func newIdleBody(r io.ReadCloser, d time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{r: r, d: d, cancel: cancel}
	b.t = time.AfterFunc(d, func() {
		b.fired.Store(true)
		cancel()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 && !b.fired.Load() {
		b.t.Reset(b.d)
	}
	if err != nil && err != io.EOF && b.fired.Load() {
		err = fmt.Errorf("%w (%s): %v", errIdle, b.d, err)
	}
	return n, err
}

// Close stops the timer, closes the body and ends the request; it may be
// called more than once.
func (b *idleBody) Close() error {
	var err error
	b.once.Do(func() {
		b.t.Stop()
		err = b.r.Close()
		b.cancel()
	})
	return err
}

// openBucket reads key of a bucket origin with its Meta (a HEAD: the Meta
// only). The idle timer bounds the open as it bounds the body.
func (g *origins) openBucket(ctx context.Context, method string, b *store.Bucket, key string) (*originBody, error) {
	rctx, cancel := context.WithCancel(ctx)
	ib := newIdleBody(nil, g.opts.HeaderTimeout, cancel)
	var (
		meta store.Meta
		r    io.ReadCloser = io.NopCloser(strings.NewReader(""))
		err  error
	)
	if method == http.MethodHead {
		meta, err = b.Stat(rctx, key, g.opts.ContentTypes)
	} else {
		r, meta, err = b.OpenObject(rctx, key, g.opts.ContentTypes)
	}
	if err == nil && meta.Size > g.opts.MaxObjectSize {
		_ = r.Close()
		err = g.tooLarge(http.StatusOK, meta.Size)
	}
	if err != nil {
		ib.t.Stop()
		cancel()
		var fe *FailedError
		switch {
		case errors.As(err, &fe):
			return nil, err
		case store.IsNotFound(err):
			return nil, ErrNotFound
		case isTimeout(err) || ib.fired.Load():
			return nil, failed(0, ReasonTimeout, err)
		}
		return nil, failed(0, ReasonOrigin, err)
	}
	ib.r, ib.d = r, g.opts.IdleTimeout
	ib.t.Reset(ib.d)
	return &originBody{status: http.StatusOK, meta: meta, body: ib}, nil
}

// bucketCache keeps one open bucket per origin URL.
type bucketCache struct {
	open func(ctx context.Context, rawURL string) (*store.Bucket, error)
	mu   sync.Mutex
	m    map[string]*bucketEntry
}

type bucketEntry struct {
	ready chan struct{}
	b     *store.Bucket
	err   error
}

func (c *bucketCache) get(ctx context.Context, rawURL string) (*store.Bucket, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]*bucketEntry)
	}
	e, ok := c.m[rawURL]
	if !ok {
		e = &bucketEntry{ready: make(chan struct{})}
		c.m[rawURL] = e
		c.mu.Unlock()
		e.b, e.err = c.open(ctx, rawURL)
		if e.err != nil {
			c.mu.Lock()
			delete(c.m, rawURL) // retry on the next fill
			c.mu.Unlock()
		}
		close(e.ready)
		return e.b, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e.b, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *bucketCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for k, e := range c.m {
		select {
		case <-e.ready:
			if e.b != nil {
				errs = append(errs, e.b.Close())
			}
		default:
		}
		delete(c.m, k)
	}
	return errors.Join(errs...)
}

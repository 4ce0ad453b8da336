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

// originBody is an origin's 200 answer: what it said about the object and
// its body, guarded by the idle timeout.
type originBody struct {
	status   int
	meta     Meta
	md5      []byte            // expected MD5 of the body; nil when the origin sent none
	userMeta map[string]string // bucket origins: the object's user metadata, kept
	body     *idleBody
}

// newClient returns the HTTP client for origin requests: its own transport
// (no proxy from the environment, no transparent decompression, many idle
// connections per host, connect and header timeouts) and no automatic
// redirects (fetchHTTP follows them itself). A guarded client refuses
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

// open sends the origin request for req (GET or HEAD) and classifies the
// answer: a 200 gives an originBody (whose body the caller closes); 404 gives
// ErrNotFound; a 3xx not followed gives *RedirectError; anything else
// *FailedError. ctx bounds the whole request including the body.
func (m *Mirror) open(ctx context.Context, method string, req Request) (*originBody, error) {
	if req.Rule == nil {
		return nil, &FailedError{Reason: "rule", Err: errors.New("no rule")}
	}
	oreq, err := m.originRequest(req.Rule, req.Key, req.Header, req.RawQuery)
	if err != nil {
		reason := "rule"
		if errors.Is(err, rules.ErrKeyRefused) {
			reason = "refused_key"
		}
		return nil, &FailedError{Reason: reason, Err: err}
	}
	if oreq.BucketURL != "" {
		return m.openBucketObject(ctx, method, oreq)
	}
	if oreq.URL == nil {
		return nil, &FailedError{Reason: "rule", Err: errors.New("origin request has neither URL nor bucket")}
	}
	return m.openHTTP(ctx, method, oreq, req.Rule.FollowRedirects)
}

func (m *Mirror) openHTTP(ctx context.Context, method string, oreq *rules.Request, follow bool) (*originBody, error) {
	rctx, cancel := context.WithCancel(ctx)
	resp, err := m.doHTTP(rctx, method, oreq, follow)
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
		return fail(&FailedError{Status: resp.StatusCode, Reason: "status", Err: fmt.Errorf("origin answered %s", resp.Status)})
	}
	o := &originBody{status: resp.StatusCode, meta: metaFromHeader(resp.Header, resp.ContentLength)}
	if method == http.MethodHead {
		o.meta.Size = -1
		if n, err := parseLength(resp.Header.Get("Content-Length")); err == nil {
			o.meta.Size = n
		}
	}
	if v := resp.Header.Get("Content-MD5"); v != "" {
		sum, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(sum) != 16 {
			return fail(&FailedError{Status: resp.StatusCode, Reason: "md5", Err: fmt.Errorf("origin sent an invalid Content-MD5 %q", v)})
		}
		o.md5 = sum
	}
	if o.meta.Size > m.opts.MaxObjectSize {
		return fail(&FailedError{Status: resp.StatusCode, Reason: "too_large",
			Err: fmt.Errorf("origin object is %d bytes, over the %d byte limit", o.meta.Size, m.opts.MaxObjectSize)})
	}
	o.body = newIdleBody(resp.Body, m.opts.IdleTimeout, cancel)
	return o, nil
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

func metaFromHeader(h http.Header, size int64) Meta {
	meta := Meta{
		Size:               size,
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    h.Get("Content-Encoding"),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		ETag:               h.Get("ETag"),
	}
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		meta.LastModified = t
	}
	return meta
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
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
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

// doHTTP sends the request and follows redirects itself (at most 10 hops).
// Hops to the configured origin (same scheme, host and port) use the trusted
// client with the rule's headers; hops anywhere else use the guarded client
// (non-public addresses refused at dial time) and drop credentials and
// cookies. A redirect that only adds a trailing slash is ErrNotFound.
func (m *Mirror) doHTTP(ctx context.Context, method string, oreq *rules.Request, follow bool) (*http.Response, error) {
	origin := oreq.URL
	u := *oreq.URL
	for hop := 0; ; hop++ {
		same := sameOrigin(&u, origin)
		if !same && numericHost(u.Hostname()) {
			return nil, &FailedError{Reason: "redirect_blocked", Err: fmt.Errorf("redirect to %q: numeric host spellings are not followed", u.Host)}
		}
		r, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
		if err != nil {
			return nil, &FailedError{Reason: "rule", Err: err}
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
		if m.opts.Via != "" {
			via := m.opts.Via
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
		client := m.trusted
		if !same {
			client = m.guarded
		}
		resp, err := client.Do(r)
		if err != nil {
			return nil, classifyRequestErr(err)
		}
		if !isRedirect(resp.StatusCode) {
			return resp, nil
		}
		loc := resp.Header.Get("Location")
		drain(resp.Body)
		if loc == "" {
			return nil, &FailedError{Status: resp.StatusCode, Reason: "status", Err: fmt.Errorf("origin answered %d without a Location", resp.StatusCode)}
		}
		if !follow {
			return nil, &RedirectError{Status: resp.StatusCode, Location: loc}
		}
		if hop == maxRedirects {
			return nil, &FailedError{Status: resp.StatusCode, Reason: "redirect_loop", Err: fmt.Errorf("more than %d redirects", maxRedirects)}
		}
		next, err := u.Parse(loc)
		if err != nil {
			return nil, &FailedError{Status: resp.StatusCode, Reason: "redirect_blocked", Err: fmt.Errorf("bad Location %q: %v", loc, err)}
		}
		if next.Scheme != "http" && next.Scheme != "https" {
			return nil, &FailedError{Status: resp.StatusCode, Reason: "redirect_blocked", Err: fmt.Errorf("redirect to %q: only http and https are followed", loc)}
		}
		next.Fragment, next.RawFragment = "", ""
		next.User = nil
		if addsSlash(&u, next) {
			return nil, ErrNotFound // a directory: no object under this key
		}
		u = *next
	}
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
		return &FailedError{Reason: "redirect_blocked", Err: err}
	case isTimeout(err):
		return &FailedError{Reason: "timeout", Err: err}
	case errors.Is(err, context.Canceled):
		return &FailedError{Reason: "canceled", Err: err}
	}
	return &FailedError{Reason: "network", Err: err}
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

// openBucketObject reads a bucket origin's object with its attributes.
func (m *Mirror) openBucketObject(ctx context.Context, method string, oreq *rules.Request) (*originBody, error) {
	b, err := m.buckets.get(ctx, oreq.BucketURL)
	if err != nil {
		return nil, &FailedError{Reason: "origin_open", Err: err}
	}
	rctx, cancel := context.WithCancel(ctx)
	// The idle timer also bounds the attribute and open calls.
	ib := newIdleBody(nil, m.opts.HeaderTimeout, cancel)
	fail := func(err error) (*originBody, error) {
		ib.t.Stop()
		cancel()
		if store.IsNotFound(err) {
			return nil, ErrNotFound
		}
		if isTimeout(err) || ib.fired.Load() {
			return nil, &FailedError{Reason: "timeout", Err: err}
		}
		return nil, &FailedError{Reason: "origin", Err: err}
	}
	attrs, err := b.Attributes(rctx, oreq.Key)
	if err != nil {
		return fail(err)
	}
	o := &originBody{
		status: http.StatusOK,
		meta: Meta{
			Size:               attrs.Size,
			ContentType:        m.opts.ContentTypes.ForAttributes(oreq.Key, attrs),
			ContentEncoding:    attrs.ContentEncoding,
			ContentDisposition: attrs.ContentDisposition,
			ContentLanguage:    attrs.ContentLanguage,
			CacheControl:       attrs.CacheControl,
			ETag:               attrs.ETag,
			LastModified:       attrs.ModTime,
			Expires:            attrs.Metadata[MetaExpires],
		},
		md5:      attrs.MD5,
		userMeta: attrs.Metadata,
	}
	if o.meta.Size > m.opts.MaxObjectSize {
		return fail(&FailedError{Status: http.StatusOK, Reason: "too_large",
			Err: fmt.Errorf("origin object is %d bytes, over the %d byte limit", o.meta.Size, m.opts.MaxObjectSize)})
	}
	if method == http.MethodHead {
		ib.t.Stop()
		ib.r = io.NopCloser(strings.NewReader(""))
		o.body = ib
		return o, nil
	}
	r, err := b.NewReader(rctx, oreq.Key, nil)
	if err != nil {
		return fail(err)
	}
	ib.r = r
	ib.d = m.opts.IdleTimeout
	ib.t.Reset(ib.d)
	o.body = ib
	return o, nil
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

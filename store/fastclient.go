package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// fastClient sends the direct path's GET, HEAD (directget.go) and PUT
// (direct.go) requests over github.com/valyala/fasthttp's client instead of
// Go's http.Transport.
// The answer is the same *http.Response the Transport gives for it (status,
// headers, ContentLength, body), so everything above read is shared and
// TestDirectGetMatchesSDK holds for both. What it saves is the Transport's
// work per request: a read and a write goroutine per connection, each
// answer handed between them, and a header map parsed with textproto; on a
// 4 KiB hit through serve that was about 40 µs of CPU of the 100 a bare
// net/http proxy spends (docs/serve.md, Performance), and a fifth of
// scan's CPU per 4 KiB object (docs/scan.md).
//
// It keeps what the Transport gives the direct path: keep-alive connections
// (dropped after 15 s idle), the same dial and TLS settings, a 60 s limit
// on waiting for an answer's headers once the request is sent, no
// redirects followed, a request sent again on a fresh connection when a
// kept-alive one turns out closed (a PUT too: S3's PUT is idempotent, and a
// create-only one that did land the first time answers 412, which its
// caller counts as a write that lost the race, as when scan retries it),
// and the request's context: cancelling it stops the wait for headers and
// any read of the body, and closes the connection. Bodies up to
// fastBuffered bytes arrive with the headers; bigger ones are streamed from
// the connection, read straight into the caller's buffer.
//
// Requests through an HTTP proxy (HTTPS_PROXY and the like name one for the
// endpoint) go through the Transport, which knows how to use it.
type fastClient struct {
	hc            *fasthttp.HostClient
	headerTimeout time.Duration
}

// fastBuffered is the largest body read along with its headers.
const fastBuffered = 64 << 10

// fastAttempts bounds how often a request is sent again after a kept-alive
// connection turned out closed before its answer began.
const fastAttempts = 3

// newFastClient returns the fasthttp client for requests to host (host or
// host:port) over scheme, with rt's dial, TLS and timeout settings, or nil
// when the requests must go through rt (a proxy applies to them, or rt is
// not an *http.Transport).
func newFastClient(rt http.RoundTripper, scheme, host string) *fastClient {
	tr, ok := rt.(*http.Transport)
	if !ok {
		return nil
	}
	if tr.Proxy != nil {
		pu, err := tr.Proxy(&http.Request{URL: &url.URL{Scheme: scheme, Host: host}})
		if err != nil || pu != nil {
			return nil
		}
	}
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = host + ":80"
		if scheme == "https" {
			addr = host + ":443"
		}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	handshake := tr.TLSHandshakeTimeout
	hc := &fasthttp.HostClient{
		Addr:  addr,
		IsTLS: scheme == "https",
		Dial: func(a string) (net.Conn, error) {
			c, err := dialer.Dial("tcp", a)
			if err == nil && scheme == "https" && handshake > 0 {
				// fasthttp's TLS handshake runs on this connection next;
				// send clears the deadline before the request.
				_ = c.SetDeadline(time.Now().Add(handshake))
			}
			return c, err
		},
		MaxConns:                 1 << 16, // as the Transport: no limit of its own
		MaxIdleConnDuration:      tr.IdleConnTimeout,
		MaxResponseBodySize:      fastBuffered,
		StreamResponseBody:       true,
		DisablePathNormalizing:   true, // the key's escaping is the SDK's (objectURL), sent as it is
		NoDefaultUserAgentHeader: true,
		ReadBufferSize:           16 << 10,
		// As the Transport's: a small PUT leaves in one write.
		WriteBufferSize: max(tr.WriteBufferSize, 8<<10),
	}
	if tr.TLSClientConfig != nil {
		hc.TLSConfig = tr.TLSClientConfig.Clone()
	}
	return &fastClient{hc: hc, headerTimeout: tr.ResponseHeaderTimeout}
}

// errBodyClosedEarly closes a connection whose answer was not read to its end.
var errBodyClosedEarly = errors.New("body closed before its end")

// roundTrip sends r (a GET or HEAD, or a PUT of payload; signed or not; r's
// own Body is not read) and returns the answer as http.Transport.RoundTrip
// would.
func (f *fastClient) roundTrip(r *http.Request, payload []byte) (*http.Response, error) {
	ctx := r.Context()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(r.Method)
	req.SetRequestURI(r.URL.String())
	req.URI().DisablePathNormalizing = true
	// The Host the request was signed with, exactly (fasthttp's URI
	// lowercases hosts).
	req.UseHostHeader = true
	req.Header.SetHost(r.URL.Host)
	req.Header.SetUserAgent("ferry")
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if payload != nil {
		req.SetBodyRaw(payload) // and its Content-Length, which was signed
	}
	resp := fasthttp.AcquireResponse()
	var (
		body *fastBody
		err  error
	)
	for attempt := 1; ; attempt++ {
		var retry bool
		body, retry, err = f.send(ctx, req, resp)
		if err == nil || !retry || attempt == fastAttempts {
			break
		}
		resp.Reset()
	}
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &url.Error{Op: r.Method, URL: r.URL.String(), Err: err}
	}
	h := make(http.Header, 16)
	for k, v := range resp.Header.All() {
		name := http.CanonicalHeaderKey(string(k))
		h[name] = append(h[name], string(v))
	}
	delete(h, "Transfer-Encoding") // as the Transport, which moves it to TransferEncoding
	out := &http.Response{
		Status:        strconv.Itoa(resp.StatusCode()) + " " + string(resp.Header.StatusMessage()),
		StatusCode:    resp.StatusCode(),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: int64(resp.Header.ContentLength()),
		Body:          body,
		Request:       r,
	}
	if out.ContentLength < 0 {
		out.ContentLength = -1
	}
	return out, nil
}

// send is one attempt of req: a connection from the pool (or a new one),
// the request written, the answer's headers read, and a body of up to
// fastBuffered bytes with them. With err nil the connection is back in the
// pool (nothing left to read), or the returned body holds it until Close.
// retry reports whether the request may be sent again: it failed on a
// kept-alive connection (which the server may have closed while idle),
// not by a timeout or the context.
func (f *fastClient) send(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) (*fastBody, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	hc := f.hc
	cc, err := hc.AcquireConn(0, false)
	if err != nil {
		return nil, false, err
	}
	conn := cc.Conn()
	reused := !cc.LastUseTime().IsZero()
	w := watchConn(ctx, conn)
	fail := func(err error) (*fastBody, bool, error) {
		w.stop()
		hc.CloseConn(cc)
		var te interface{ Timeout() bool }
		timeout := errors.As(err, &te) && te.Timeout()
		return nil, reused && !timeout && !w.fired(), err
	}
	// As the Transport: no limit on sending the request (a PUT's body may
	// take its time; the context still ends it), then headerTimeout for
	// the answer's headers.
	if err := w.setDeadline(time.Time{}); err != nil {
		return fail(err)
	}
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		return fail(err)
	}
	if f.headerTimeout > 0 {
		if err := w.setDeadline(time.Now().Add(f.headerTimeout)); err != nil {
			return fail(err)
		}
	}
	br := hc.AcquireReader(conn)
	resp.StreamBody = true
	resp.SkipBody = req.Header.IsHead()
	if err := resp.ReadLimitBody(br, fastBuffered); err != nil {
		hc.ReleaseReader(br)
		return fail(err)
	}
	// Reusable once the answer is read: the server keeps the connection
	// and the body's end is known (a length, or chunked).
	keep := !resp.ConnectionClose() && resp.Header.ContentLength() >= -1
	b := &fastBody{resp: resp, watch: w}
	switch s := resp.BodyStream().(type) {
	case nil: // no body: a HEAD, a 204, a 304
		b.small = bytes.NewReader(nil)
	case *bytes.Reader: // the whole body came with the headers
		b.small = s
	default:
		// A bigger body, read from the connection as the caller reads it;
		// it may take as long as it takes.
		if err := w.setDeadline(time.Time{}); err != nil {
			hc.ReleaseReader(br)
			return fail(err)
		}
		b.stream = s
		b.done = func(rest error) {
			hc.ReleaseReader(br)
			if rest != nil || !keep || w.fired() {
				hc.CloseConn(cc)
			} else {
				hc.ReleaseConn(cc)
			}
		}
		return b, false, nil
	}
	hc.ReleaseReader(br)
	w.stop()
	if keep && w.setDeadline(time.Time{}) == nil {
		hc.ReleaseConn(cc)
	} else {
		hc.CloseConn(cc)
	}
	return b, false, nil
}

// fastBody is an answer's body: bytes that came with the headers, or the
// rest streamed from the connection. Close releases the response; a stream
// closed before its end closes its connection.
type fastBody struct {
	resp   *fasthttp.Response
	watch  *connWatch
	small  *bytes.Reader
	stream io.Reader   // fasthttp's stream of the body, read from the connection
	done   func(error) // returns the connection to the pool (nil) or closes it
	eof    bool
	mu     sync.Mutex
	closed bool
}

func (b *fastBody) Read(p []byte) (int, error) {
	if b.small != nil {
		return b.small.Read(p)
	}
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.stream.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil && b.watch.fired() {
		err = b.watch.ctx.Err()
	}
	return n, err
}

func (b *fastBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.stream != nil {
		b.watch.stop()
		var rest error
		if !b.eof {
			rest = errBodyClosedEarly
		}
		b.done(rest)
	}
	// Releasing the response releases fasthttp's stream too.
	fasthttp.ReleaseResponse(b.resp)
	return nil
}

// A connWatch ties a connection to a request's context: when the context
// ends, the connection's deadline is set in the past, so a read or write
// blocked on it returns at once, and the connection is closed, never
// reused. Deadlines set later through setDeadline do not undo that.
type connWatch struct {
	ctx   context.Context
	conn  net.Conn
	mu    sync.Mutex
	ended bool
	stopf func() bool
}

func watchConn(ctx context.Context, conn net.Conn) *connWatch {
	w := &connWatch{ctx: ctx, conn: conn}
	w.stopf = context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.ended = true
		_ = conn.SetDeadline(time.Unix(1, 0))
		w.mu.Unlock()
	})
	return w
}

// setDeadline sets the connection's read and write deadline (zero: none)
// unless the context has ended.
func (w *connWatch) setDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return w.ctx.Err()
	}
	return w.conn.SetDeadline(t)
}

func (w *connWatch) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ended
}

func (w *connWatch) stop() { w.stopf() }

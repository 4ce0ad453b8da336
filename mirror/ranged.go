package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// RangeAhead: a reader whose range starts more than this many bytes beyond
// what its fill holds asks the origin for its range (when the origin
// accepts ranges) instead of waiting for the fill to get there. Closer
// ranges are served from the spool: the fill reaches them about as soon as
// a new origin request would answer.
const RangeAhead = 1 << 20

// errNoValidator refuses a ranged request for an object the origin gave
// neither an ETag nor a Last-Modified: nothing would show that the range
// comes from the same object as the fill.
var errNoValidator = errors.New("the origin sent neither ETag nor Last-Modified")

// openRange asks origin i (0-based) of rt's rule for bytes [off, off+n) of
// req's object as meta describes it: the fill's request plus Range and
// If-Range. Only a 206 for exactly that range of the same object (the total
// size, the ETag or else Last-Modified, and the Content-Encoding agree) is
// used; anything else is an error, and the caller falls back on the fill.
// A bucket origin is read with a range reader (see openBucketRange). The
// body is checked to be exactly n bytes; Close ends the request.
func (g *origins) openRange(ctx context.Context, rt route, req Request, i int, meta *store.Meta, off, n int64) (io.ReadCloser, error) {
	validator := ifRange(meta)
	switch {
	case rt.rule == nil:
		return nil, errors.New("not a rule's origin")
	case validator == "":
		return nil, errNoValidator
	}
	oreq, err := g.request(rt.rule, i, req)
	if err != nil {
		return nil, err
	}
	if oreq.BucketURL != "" {
		return g.openBucketRange(ctx, oreq, meta, off, n)
	}
	ranged := *oreq
	ranged.Header = make(http.Header, len(oreq.Header)+2)
	for k, v := range oreq.Header {
		ranged.Header[k] = v
	}
	ranged.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	ranged.Header.Set("If-Range", validator)
	rctx, cancel := context.WithCancel(ctx)
	resp, _, err := g.doHTTP(rctx, http.MethodGet, &ranged, rt.rule.FollowRedirects)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := sameRange(resp, meta, off, n); err != nil {
		drain(resp.Body)
		cancel()
		return nil, err
	}
	o := &originBody{status: resp.StatusCode, meta: store.Meta{Size: n},
		body: newIdleBody(resp.Body, g.opts.IdleTimeout, cancel)}
	return readCloser{g.check(ctx, o), o.body}, nil
}

// openBucketRange reads [off, off+n) of a bucket origin's object with a
// range reader, used only when the object still has the fill's size and
// modification time.
func (g *origins) openBucketRange(ctx context.Context, oreq *rules.Request, meta *store.Meta, off, n int64) (io.ReadCloser, error) {
	b, err := g.buckets.get(ctx, oreq.BucketURL)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	r, err := b.NewRangeReader(rctx, oreq.Key, off, n, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if r.Size() != meta.Size || !r.ModTime().Equal(meta.LastModified) {
		_ = r.Close()
		cancel()
		return nil, fmt.Errorf("the object changed: %d bytes modified %v, the fill has %d bytes modified %v",
			r.Size(), r.ModTime(), meta.Size, meta.LastModified)
	}
	o := &originBody{status: http.StatusPartialContent, meta: store.Meta{Size: n},
		body: newIdleBody(r, g.opts.IdleTimeout, cancel)}
	return readCloser{g.check(ctx, o), o.body}, nil
}

// ifRange is the If-Range value for meta's object: a strong ETag, else its
// Last-Modified; "" when it has neither.
func ifRange(meta *store.Meta) string {
	switch {
	case meta.ETag != "" && !strings.HasPrefix(meta.ETag, "W/"):
		return meta.ETag
	case !meta.LastModified.IsZero():
		return meta.LastModified.UTC().Format(http.TimeFormat)
	}
	return ""
}

// sameRange checks that resp is bytes [off, off+n) of the object meta
// describes.
func sameRange(resp *http.Response, meta *store.Meta, off, n int64) error {
	want := fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, meta.Size)
	h := resp.Header
	lm, _ := http.ParseTime(h.Get("Last-Modified"))
	switch {
	case resp.StatusCode != http.StatusPartialContent:
		return fmt.Errorf("origin answered %s to a range", resp.Status)
	case h.Get("Content-Range") != want:
		return fmt.Errorf("origin answered Content-Range %q, want %q", h.Get("Content-Range"), want)
	case resp.ContentLength >= 0 && resp.ContentLength != n:
		return fmt.Errorf("origin answered %d bytes for a range of %d", resp.ContentLength, n)
	case h.Get("Content-Encoding") != meta.ContentEncoding:
		return fmt.Errorf("origin answered Content-Encoding %q, the fill has %q", h.Get("Content-Encoding"), meta.ContentEncoding)
	case meta.ETag != "" && h.Get("ETag") != meta.ETag:
		return fmt.Errorf("the object changed: ETag %q, the fill has %q", h.Get("ETag"), meta.ETag)
	case meta.ETag == "" && !lm.Equal(meta.LastModified):
		return fmt.Errorf("the object changed: Last-Modified %q", h.Get("Last-Modified"))
	}
	return nil
}

// readCloser reads from r and closes c.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// streamReader is the reader Stream.NewReader gives for [off, off+n) of a
// fill: the spool's, or for a range far ahead of the fill one that first
// tries a ranged origin request.
func (f *fill) streamReader(off, n int64) io.ReadCloser {
	sp := f.newReader(off, n)
	if !f.ranges || off <= RangeAhead || off >= f.meta.Size {
		return sp // the fill is never that far behind (whole-object reads among them)
	}
	end := f.meta.Size
	if n >= 0 && off+n < end {
		end = off + n
	}
	ctx, cancel := context.WithTimeout(f.m.base, f.m.opts.FillTimeout)
	return &aheadReader{f: f, off: off, n: end - off, spool: sp, ctx: ctx, cancel: cancel}
}

// aheadReader decides on its first Read where its bytes come from: when
// the range still starts more than RangeAhead beyond the fill's bytes, from
// a ranged request to the origin that answered the fill; else (or when that
// request cannot be used) from the spool.
type aheadReader struct {
	f      *fill
	off, n int64
	spool  *reader
	ctx    context.Context // the ranged request's: Shutdown and Close end it
	cancel context.CancelFunc

	once   sync.Once
	mu     sync.Mutex
	src    io.ReadCloser // the ranged answer, once chosen
	closed bool
}

func (a *aheadReader) Read(p []byte) (int, error) {
	a.once.Do(a.pick)
	a.mu.Lock()
	src := a.src
	a.mu.Unlock()
	if src != nil {
		return src.Read(p)
	}
	return a.spool.Read(p)
}

// pick opens the ranged request when the range is still far ahead.
func (a *aheadReader) pick() {
	f := a.f
	f.mu.Lock()
	written, state := f.written, f.state
	f.mu.Unlock()
	if state != bodyRunning || a.off <= written+RangeAhead {
		return
	}
	rc, err := f.m.openRange(a.ctx, f.rt, f.req, f.origin, &f.meta, a.off, a.n)
	obs := f.m.opts.Observer
	if err != nil {
		obs.Ranged(false)
		f.m.log.Debug("ranged origin request not used: following the fill", "key", f.req.Key, "offset", a.off, "err", err)
		return
	}
	obs.Ranged(true)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		_ = rc.Close()
		return
	}
	a.src = rc
	a.mu.Unlock()
	_ = a.spool.Close() // the fill goes on without this reader
}

// Close ends the ranged request (a blocked Read returns an error) and
// releases the reader's hold on the fill.
func (a *aheadReader) Close() error {
	a.cancel()
	a.mu.Lock()
	src := a.src
	a.closed = true
	a.mu.Unlock()
	if src != nil {
		_ = src.Close()
	}
	return a.spool.Close()
}

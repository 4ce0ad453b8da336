package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// proxy answers a GET under a store: false rule: the request's own origin
// fetch (with failover and pass_status as for a fill), on ctx bounded by
// FillTimeout and ended by Shutdown, with no registry entry, spool, commit
// or journal line. Errors as for Get.
func (m *Mirror) proxy(ctx context.Context, req Request, rt route) (*Stream, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrShutdown
	}
	pctx, cancel := context.WithTimeout(ctx, m.opts.FillTimeout)
	stop := context.AfterFunc(m.base, cancel)
	end := func() {
		stop()
		cancel()
	}
	o, origin, err := m.openFrom(pctx, http.MethodGet, rt, req)
	if err != nil {
		end()
		return nil, fmt.Errorf("proxy %q: %w", req.Key, err)
	}
	m.opts.Observer.Proxied()
	d := &direct{m: m, rt: rt, req: req, o: o, origin: origin, ctx: pctx, end: end}
	d.refs.Store(1)
	return &Stream{meta: o.meta, direct: d}, nil
}

// direct is the origin answer of one store: false request, read by at most
// one reader and never stored. The Stream and its reader each hold a
// reference; the last one closes the origin body.
type direct struct {
	m      *Mirror
	rt     route
	req    Request
	o      *originBody
	origin int
	ctx    context.Context
	end    func() // cancels ctx

	refs  atomic.Int32
	taken atomic.Bool
}

func (d *direct) release() {
	if d.refs.Add(-1) == 0 {
		_ = d.o.body.Close()
		d.end()
	}
}

// reader returns the one reader of [off, off+n) of the answer.
func (d *direct) reader(off, n int64) io.ReadCloser {
	if !d.taken.CompareAndSwap(false, true) {
		return io.NopCloser(errReader{errors.New("mirror: a proxied Stream has one reader")})
	}
	d.refs.Add(1)
	return &directReader{d: d, off: off, n: n}
}

// directReader reads its range of a proxied answer: from a ranged origin
// request when the range starts more than RangeAhead bytes in and the
// origin accepts ranges, else from the answer itself, skipping to the range.
type directReader struct {
	d      *direct
	off, n int64
	src    io.Reader // chosen on the first Read

	mu     sync.Mutex
	ranged io.ReadCloser
	closed bool
}

func (r *directReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return 0, errReaderClosed
	}
	if r.src == nil {
		src, err := r.open()
		if err != nil {
			return 0, err
		}
		r.src = src
	}
	return r.src.Read(p)
}

// open chooses the source of the range.
func (r *directReader) open() (io.Reader, error) {
	d, size := r.d, r.d.o.meta.Size
	end := size
	if r.n >= 0 && (size < 0 || r.off+r.n < size) {
		end = r.off + r.n
	}
	if d.o.acceptRanges && size > 0 && end > r.off && r.off > RangeAhead {
		rc, err := d.m.openRange(d.ctx, d.rt, d.req, d.origin, &d.o.meta, r.off, end-r.off)
		d.m.opts.Observer.Ranged(err == nil)
		if err == nil {
			r.mu.Lock()
			r.ranged = rc
			r.mu.Unlock()
			_ = d.o.body.Close()
			return rc, nil
		}
		d.m.log.Debug("ranged origin request not used: reading the answer", "key", d.req.Key, "offset", r.off, "err", err)
	}
	chk := d.m.check(d.ctx, d.o)
	if _, err := io.CopyN(io.Discard, chk, r.off); err != nil {
		return nil, err
	}
	if end >= 0 && end != size {
		return io.LimitReader(chk, end-r.off), nil // ends before the object: no later check can fail it
	}
	if len(d.o.meta.MD5) > 0 {
		return &holdLast{r: chk}, nil
	}
	return chk, nil
}

func (r *directReader) Close() error {
	r.mu.Lock()
	closed, ranged := r.closed, r.ranged
	r.closed = true
	r.mu.Unlock()
	if closed {
		return nil
	}
	if ranged != nil {
		_ = ranged.Close()
	}
	r.d.release()
	return nil
}

// holdLast passes r's bytes on but keeps the last one back until r returned
// io.EOF: a body checked at its end (MD5) never reaches a client whole when
// the check fails.
type holdLast struct {
	r    io.Reader
	last byte
	has  bool
	err  error
}

func (h *holdLast) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if h.err != nil {
			if h.has && h.err == io.EOF {
				h.has = false
				p[0] = h.last
				return 1, nil
			}
			return 0, h.err
		}
		start := 0
		if h.has {
			start = 1
		}
		if len(p) <= start {
			// One byte of room and one held: read ahead into the held byte.
			var one [1]byte
			k, err := h.r.Read(one[:])
			h.err = err
			if k == 1 {
				p[0], h.last = h.last, one[0]
				return 1, nil
			}
			continue
		}
		k, err := h.r.Read(p[start:])
		h.err = err
		if h.has {
			p[0] = h.last
		}
		total := start + k
		if total == 0 {
			continue
		}
		h.last, h.has = p[total-1], true
		if total > 1 {
			return total - 1, nil
		}
	}
}

package mirror

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/store"
	"golang.org/x/time/rate"
)

// Objects at least this big are uploaded as parallel multipart uploads by
// Copy (fills keep the writer's default, one part in flight).
const (
	multipartPart        = 16 << 20
	multipartConcurrency = 4
)

// commitPlan says how much memory a commit may use.
type commitPlan struct {
	reserved int64 // see Request.Reserved
	parallel bool  // parallel multipart uploads for big objects
}

// commit stores the body src yields under key, create-only, with meta's
// headers and metadata. src returns io.EOF only for a body that passed its
// checks (a checked origin body, or a reader of a verified spool); its
// other errors abort the write and are returned as they are. Objects of
// known size go into an S3 target with one direct PUT from memory when they
// are small (store.DirectPutMax) or the caller reserved the memory (below
// the multipart size); everything else streams through the bucket writer.
// A key stored by someone else first is no error: stored is false.
func (m *Mirror) commit(ctx context.Context, key string, meta *store.Meta, src io.Reader, p commitPlan) (stored bool, n int64, err error) {
	opts := meta.WriterOptions()
	size := meta.Size
	if d := m.opts.Target.Direct(); d != nil && size >= 0 &&
		(size <= store.DirectPutMax || (size <= p.reserved && size < multipartPart)) && d.Eligible(key, opts) {
		buf, put := getBody(int(size))
		defer put()
		k, err := readWhole(src, buf)
		if err != nil {
			return false, int64(k), sourceFailure(err)
		}
		stored, err := m.committed(ctx, key, d.Put(ctx, key, buf, opts))
		return stored, size, err
	}
	if p.parallel && size >= multipartPart {
		opts.BufferSize = multipartPart
		opts.MaxConcurrency = multipartConcurrency
	}
	// Cancelling the write's context before Close aborts it: nothing partial
	// becomes visible (fileblob drops its temp file, S3 aborts the upload).
	// An upload the SDK could not abort is swept (uploads.go).
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	began := time.Now()
	w, err := m.opts.Target.NewWriter(wctx, key, opts)
	if err != nil {
		return false, 0, targetFailure(err)
	}
	rs := &readSide{r: src}
	bp := copyBufs.Get().(*[]byte)
	n, err = io.CopyBuffer(onlyWriter{w}, rs, *bp)
	copyBufs.Put(bp)
	if err != nil {
		cancel()
		_ = closeWriter(w)
		m.sweepAfter(ctx, key, began, n)
		if rs.err != nil {
			return false, n, sourceFailure(err)
		}
		return false, n, targetFailure(err)
	}
	cerr := closeWriter(w)
	if cerr != nil {
		m.sweepAfter(ctx, key, began, n)
	}
	stored, err = m.committed(ctx, key, cerr)
	return stored, n, err
}

// errWriterPanicked is a write whose Close panicked: gocloud v0.47's
// azureblob writer dereferences a pipe its upload goroutine has just set to
// nil when the upload failed (a create-only write that lost, for one). The
// write failed; committed then asks the target whether the key is there.
var errWriterPanicked = errors.New("target writer failed (its Close panicked)")

// closeWriter closes w, turning a panic of the driver's Close into
// errWriterPanicked so that one failed write cannot take serve down.
func closeWriter(w io.Closer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errWriterPanicked, p)
		}
	}()
	return w.Close()
}

// readWhole fills buf from src and reads on to the end of the body, which
// must come right after: only then has src checked it.
func readWhole(src io.Reader, buf []byte) (int, error) {
	k, err := io.ReadFull(src, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return k, failed(0, ReasonLength, fmt.Errorf("body ended after %d of %d bytes", k, len(buf)))
	}
	if err != nil {
		return k, err
	}
	var one [1]byte
	for {
		x, err := src.Read(one[:])
		switch {
		case x > 0:
			return k + x, failed(0, ReasonLength, fmt.Errorf("body longer than the %d bytes announced", len(buf)))
		case err == io.EOF:
			return k, nil
		case err != nil:
			return k, err
		}
	}
}

// committed turns the outcome of a create-only commit into (stored, error):
// a key someone stored meanwhile wins, quietly.
func (m *Mirror) committed(ctx context.Context, key string, err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case store.IsExists(err) || m.existsAfter(ctx, key, err):
		return false, nil
	}
	return false, targetFailure(err)
}

// existsAfter reports whether key is in the target after a create-only
// write failed with err. Some S3 servers answer a conditional PUT whose key
// exists with 412 before reading the body and reset the connection, so the
// client sees a network error instead of the precondition failure; the key
// is then stored (whole, as S3 writes are atomic) and this write lost the race.
func (m *Mirror) existsAfter(ctx context.Context, key string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	ok, xerr := m.opts.Target.Exists(ctx, key)
	if xerr == nil && ok {
		m.log.Debug("create-only write failed but the key exists: treating as lost race", "key", key, "err", err)
	}
	return xerr == nil && ok
}

// targetFailure classifies a failed target write: a key the target refuses
// as invalid (MinIO refuses "//"), or any other store failure.
func targetFailure(err error) error {
	if store.IsInvalid(err) {
		return failed(0, ReasonTargetRefusedKey, err)
	}
	return failed(0, ReasonStore, err)
}

// sourceFailure passes a source's *FailedError on and tags anything else.
func sourceFailure(err error) error {
	var fe *FailedError
	if errors.As(err, &fe) {
		return err
	}
	return failed(0, ReasonInternal, err)
}

// readSide remembers the error its reader returned, so a failed copy can
// tell the source's failures from the target's.
type readSide struct {
	r   io.Reader
	err error
}

func (s *readSide) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// checked reads an origin body and enforces what every object passes before
// it is committed: at most Options.MaxObjectSize bytes, exactly the size the
// origin announced (when it did), and the expected MD5 (when known). It
// returns io.EOF only at the end of a body that passed; every failure is a
// *FailedError.
type checked struct {
	ctx    context.Context
	body   io.Reader
	status int
	size   int64 // announced; -1 unknown
	max    int64
	md5    []byte
	h      hash.Hash
	n      int64
	obs    Observer
}

// check wraps o's body in the checks.
func (g *origins) check(ctx context.Context, o *originBody) *checked {
	c := &checked{ctx: ctx, body: o.body, status: o.status, size: o.meta.Size, max: g.opts.MaxObjectSize,
		md5: o.meta.MD5, obs: g.opts.Observer}
	if len(c.md5) > 0 {
		c.h = md5.New()
	}
	return c
}

func (c *checked) Read(p []byte) (int, error) {
	k, err := c.body.Read(p)
	if k > 0 {
		if c.n+int64(k) > c.max {
			return 0, failed(c.status, ReasonTooLarge, fmt.Errorf("origin body exceeds the %d byte limit", c.max))
		}
		if c.size >= 0 && c.n+int64(k) > c.size {
			return 0, failed(c.status, ReasonLength, fmt.Errorf("origin sent more than its Content-Length %d", c.size))
		}
		if c.h != nil {
			c.h.Write(p[:k])
		}
		c.n += int64(k)
		c.obs.OriginBytes(int64(k))
	}
	switch {
	case err == io.EOF:
		return k, c.end()
	case err != nil:
		return k, c.readFailure(err)
	}
	return k, nil
}

// end checks the complete body; io.EOF when it passed.
func (c *checked) end() error {
	if c.size >= 0 && c.n != c.size {
		return failed(c.status, ReasonLength, fmt.Errorf("origin sent %d of %d bytes", c.n, c.size))
	}
	if c.h != nil {
		if sum := c.h.Sum(nil); !bytes.Equal(sum, c.md5) {
			return failed(c.status, ReasonMD5, fmt.Errorf("body MD5 %x does not match the origin's %x", sum, c.md5))
		}
	}
	return io.EOF
}

func (c *checked) readFailure(err error) error {
	switch {
	case isTimeout(err) || errors.Is(c.ctx.Err(), context.DeadlineExceeded):
		return failed(c.status, ReasonTimeout, err)
	case c.ctx.Err() != nil:
		return failed(c.status, ReasonCanceled, err)
	case c.size >= 0 && c.n < c.size && errors.Is(err, io.ErrUnexpectedEOF):
		return failed(c.status, ReasonLength, fmt.Errorf("origin sent %d of %d bytes: %w", c.n, c.size, err))
	}
	return failed(c.status, ReasonNetwork, err)
}

// limitReader throttles reads to a shared byte rate.
type limitReader struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

func (l *limitReader) Read(p []byte) (int, error) {
	if b := l.lim.Burst(); len(p) > b {
		p = p[:b]
	}
	n, err := l.r.Read(p)
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil && err == nil {
			err = failed(0, ReasonCanceled, werr)
		}
	}
	return n, err
}

// bodyPools hold direct-PUT bodies above store.DirectPutMax by power-of-two
// size class, so that copying many mid-size objects does not allocate (and
// zero) a fresh buffer for each.
var bodyPools [32]sync.Pool

// getBody returns a buffer of n bytes and a func that gives it back.
func getBody(n int) ([]byte, func()) {
	if n <= store.DirectPutMax {
		return make([]byte, n), func() {}
	}
	class := bits.Len(uint(n - 1)) // 2^class >= n
	p := &bodyPools[class]
	bp, _ := p.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 1<<class)
		bp = &b
	}
	return (*bp)[:n], func() { p.Put(bp) }
}

// copyBufs hold the buffers commits stream through. Without them,
// blob.Writer.ReadFrom allocates (and the runtime zeroes) 1 MiB per object,
// which dominated the client CPU of small-object copies.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// onlyWriter hides blob.Writer's ReadFrom so io.CopyBuffer uses the pooled buffer.
type onlyWriter struct{ io.Writer }

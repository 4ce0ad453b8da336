package mirror

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// copyBufSize is the size of the origin read buffer and of the buffer that
// feeds the target writer: the memory a fill needs, whatever its readers.
const copyBufSize = 256 << 10

// directPutMax is the largest object a fill stores with a direct PUT (held
// in memory until it is verified): no more than the feeder buffer the
// streaming path needs instead, so a fill's memory stays the same.
const directPutMax = copyBufSize

type bodyState int

const (
	bodyRunning  bodyState = iota
	bodyVerified           // every byte is in the spool and passed the integrity checks
	bodyFailed
)

// errReaderClosed is returned by Read on a reader closed concurrently.
var errReaderClosed = errors.New("mirror: reader closed")

// fill is one origin fetch shared by every reader of a key. Its bytes go to
// a spool file (unlinked at creation, so nothing is left behind even after a
// crash) that readers follow, and from the spool to the target writer.
type fill struct {
	m     *Mirror
	req   Request
	start time.Time

	ready   chan struct{} // closed once meta or headErr is set
	meta    Meta
	headErr error

	done   chan struct{} // closed once the fill committed or failed
	result Result
	err    error

	mu      sync.Mutex
	written int64 // bytes in the spool
	state   bodyState
	bodyErr error
	notify  chan struct{} // closed and replaced whenever written or state changes
	spool   *os.File
	spoolFn string // name to remove on release when unlinking at creation failed
	mem     []byte // the body, also kept in memory for a direct PUT (small objects only)
	hasMD5  bool   // the origin announced an MD5: ranges wait for the verified body
	refs    int    // the fill itself, streams and readers
}

func newFill(m *Mirror, req Request) *fill {
	return &fill{
		m:      m,
		req:    req,
		start:  time.Now(),
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		notify: make(chan struct{}),
		refs:   1,
	}
}

func (f *fill) acquire() {
	f.mu.Lock()
	f.refs++
	f.mu.Unlock()
}

// release drops one reference; the last one closes and removes the spool.
func (f *fill) release() {
	f.mu.Lock()
	f.refs--
	var sp *os.File
	var name string
	if f.refs == 0 {
		sp, name = f.spool, f.spoolFn
		f.spool, f.spoolFn = nil, ""
	}
	f.mu.Unlock()
	if sp != nil {
		_ = sp.Close()
	}
	if name != "" {
		_ = os.Remove(name)
	}
}

// broadcast wakes every waiting reader; f.mu must be held.
func (f *fill) broadcast() {
	close(f.notify)
	f.notify = make(chan struct{})
}

func (f *fill) advance(n int64) {
	f.mu.Lock()
	f.written = n
	f.broadcast()
	f.mu.Unlock()
}

func (f *fill) endBody(err error) {
	f.mu.Lock()
	if err != nil {
		f.state, f.bodyErr = bodyFailed, err
	} else {
		f.state = bodyVerified
	}
	f.broadcast()
	f.mu.Unlock()
}

// run performs the fill on the detached ctx and records its outcome.
func (f *fill) run(ctx context.Context) {
	m := f.m
	if m.opts.Hooks.FillStarted != nil {
		m.opts.Hooks.FillStarted()
	}
	if m.opts.Hooks.InFlight != nil {
		m.opts.Hooks.InFlight(1)
	}
	status, n, err, stored := f.fetchAndStore(ctx)
	// Out of flight before anyone waiting on f.done can look at the gauge.
	if m.opts.Hooks.InFlight != nil {
		m.opts.Hooks.InFlight(-1)
	}

	f.result = Result{Bytes: n, Stored: stored}
	f.err = err
	result, reason := outcome(err, stored)
	if status == 0 {
		var fe *FailedError
		var re *RedirectError
		switch {
		case errors.As(err, &fe):
			status = fe.Status
		case errors.As(err, &re):
			status = re.Status
		case errors.Is(err, ErrNotFound):
			status = http.StatusNotFound
		}
	}
	d := time.Since(f.start)
	m.leave(f)
	defer f.release()
	defer close(f.done) // after the journal line, so Wait sees the outcome recorded
	if f.headErr != nil {
		defer close(f.ready) // likewise for Get
	}

	m.hookDone(result, reason, n, d)
	if result == "failed" {
		m.log.Warn("fill failed", "key", f.req.Key, "rule", f.req.RuleIndex+1, "reason", reason, "bytes", n, "err", err)
	} else {
		m.log.Debug("fill done", "key", f.req.Key, "rule", f.req.RuleIndex+1, "result", result, "bytes", n, "duration", d)
	}
	if j := m.opts.Journal; j != nil {
		e := Entry{Time: time.Now().UTC(), Key: f.req.Key, Rule: f.req.RuleIndex + 1, Status: status,
			Bytes: n, DurationMS: d.Milliseconds(), Result: result}
		if err != nil {
			e.Error = err.Error()
		}
		if jerr := j.Append(e); jerr != nil {
			m.log.Error("journal append failed", "key", f.req.Key, "err", jerr)
		}
	}
}

func outcome(err error, stored bool) (result, reason string) {
	var fe *FailedError
	var re *RedirectError
	switch {
	case err == nil && stored:
		return "stored", ""
	case err == nil:
		return "exists", ""
	case errors.Is(err, ErrNotFound):
		return "not_found", ""
	case errors.As(err, &re):
		return "redirect", ""
	case errors.As(err, &fe):
		return "failed", fe.Reason
	}
	return "failed", "internal"
}

// failHead ends a fill before any body byte: every waiting Get gets err
// once run has recorded the outcome (run closes f.ready then).
func (f *fill) failHead(err error) {
	f.headErr = err
}

// fetchAndStore fetches the origin and tees its body into the spool (for the
// readers) and the target writer; it commits only when the body is complete
// and verified.
func (f *fill) fetchAndStore(ctx context.Context) (status int, n int64, err error, stored bool) {
	m := f.m
	o, err := m.open(ctx, http.MethodGet, f.req)
	if err != nil {
		f.failHead(err)
		return 0, 0, err, false
	}
	defer o.body.Close()
	status = o.status

	sp, err := os.CreateTemp(m.opts.SpoolDir, "ferry-fill-*")
	if err != nil {
		err = &FailedError{Status: status, Reason: "spool", Err: err}
		f.failHead(err)
		return status, 0, err, false
	}
	if rerr := os.Remove(sp.Name()); rerr != nil {
		f.spoolFn = sp.Name() // cannot unlink an open file here: remove it on release
	}
	f.spool = sp
	f.meta = o.meta
	f.hasMD5 = o.md5 != nil
	close(f.ready)

	opts := f.writerOptions(o)
	if d := m.direct; d != nil && o.meta.Size >= 0 && o.meta.Size <= directPutMax && d.Eligible(f.req.Key, opts) {
		return f.fetchAndPut(ctx, o, d, opts)
	}

	// The target write runs on its own cancelable context: cancelling it
	// before Close aborts the write, so nothing partial becomes visible.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	w, werr := m.opts.Target.NewWriter(wctx, f.req.Key, opts)
	feedDone := make(chan error, 1)
	if werr == nil {
		r := f.newReader(0, -1)
		go func() {
			defer r.Close()
			buf := make([]byte, copyBufSize)
			_, err := io.CopyBuffer(writerOnly{w}, r, buf)
			feedDone <- err
		}()
	}

	n, err = f.copyBody(ctx, o)
	_ = o.body.Close() // stops the idle timer; the commit below may take a while
	f.endBody(err)
	if err != nil {
		wcancel() // unblocks a feeder stuck in a target write
	}
	if werr != nil {
		if err == nil {
			err = &FailedError{Status: status, Reason: "store", Err: werr}
		}
		return status, n, err, false
	}
	ferr := <-feedDone
	if err != nil || ferr != nil {
		wcancel()
		_ = w.Close()
		if err == nil {
			err = &FailedError{Status: status, Reason: "store", Err: ferr}
		}
		return status, n, err, false
	}
	err, stored = f.commitResult(ctx, status, w.Close())
	return status, n, err, stored
}

// fetchAndPut is fetchAndStore for a small object of known size going into
// an S3 target: the body goes to the spool (for readers) and to memory, and
// once it is complete and verified it is stored with one direct PUT.
func (f *fill) fetchAndPut(ctx context.Context, o *originBody, d *store.DirectPutter, opts *blob.WriterOptions) (status int, n int64, err error, stored bool) {
	status = o.status
	f.mem = make([]byte, 0, o.meta.Size)
	n, err = f.copyBody(ctx, o)
	_ = o.body.Close()
	f.endBody(err)
	if err != nil {
		return status, n, err, false
	}
	err, stored = f.commitResult(ctx, status, d.Put(ctx, f.req.Key, f.mem, opts))
	return status, n, err, stored
}

// commitResult turns the outcome of the create-only commit into the fill's
// error and stored flag: a key someone stored meanwhile wins, quietly.
func (f *fill) commitResult(ctx context.Context, status int, err error) (error, bool) {
	switch {
	case err == nil:
		return nil, true
	case store.IsExists(err) || f.existsAfter(ctx, err):
		return nil, false
	default:
		return &FailedError{Status: status, Reason: "store", Err: err}, false
	}
}

// existsAfter reports whether the key is in the target after a create-only
// write failed with err. Some S3 servers answer a conditional PUT whose key
// exists with 412 before reading the body and reset the connection, so the
// client sees a network error instead of the precondition failure; the key
// is then stored (whole, as S3 writes are atomic) and the fill lost the race.
func (f *fill) existsAfter(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	ok, xerr := f.m.opts.Target.Exists(ctx, f.req.Key)
	if xerr == nil && ok {
		f.m.log.Debug("create-only write failed but the key exists: treating as lost race", "key", f.req.Key, "err", err)
	}
	return xerr == nil && ok
}

// writerOnly hides blob.Writer's ReadFrom so io.CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

// copyBody reads the origin body into the spool, enforcing the size limit,
// the announced length and the announced MD5.
func (f *fill) copyBody(ctx context.Context, o *originBody) (int64, error) {
	m := f.m
	size := o.meta.Size
	var h hash.Hash
	if o.md5 != nil {
		h = md5.New()
	}
	buf := make([]byte, copyBufSize)
	var n int64
	fail := func(reason string, err error) (int64, error) {
		return n, &FailedError{Status: o.status, Reason: reason, Err: err}
	}
	for {
		k, rerr := o.body.Read(buf)
		if k > 0 {
			if n+int64(k) > m.opts.MaxObjectSize {
				return fail("too_large", fmt.Errorf("origin body exceeds the %d byte limit", m.opts.MaxObjectSize))
			}
			if size >= 0 && n+int64(k) > size {
				return fail("length", fmt.Errorf("origin sent more than its Content-Length %d", size))
			}
			if _, err := f.spool.Write(buf[:k]); err != nil {
				return fail("spool", err)
			}
			if f.mem != nil {
				f.mem = append(f.mem, buf[:k]...) // within its capacity: the size is checked above
			}
			if h != nil {
				h.Write(buf[:k])
			}
			n += int64(k)
			if m.opts.Hooks.OriginBytes != nil {
				m.opts.Hooks.OriginBytes(int64(k))
			}
			f.advance(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			switch {
			case isTimeout(rerr) || errors.Is(ctx.Err(), context.DeadlineExceeded):
				return fail("timeout", rerr)
			case ctx.Err() != nil:
				return fail("canceled", rerr)
			case size >= 0 && n < size && errors.Is(rerr, io.ErrUnexpectedEOF):
				return fail("length", fmt.Errorf("origin sent %d of %d bytes: %w", n, size, rerr))
			}
			return fail("network", rerr)
		}
	}
	if size >= 0 && n != size {
		return fail("length", fmt.Errorf("origin sent %d of %d bytes", n, size))
	}
	if h != nil {
		if sum := h.Sum(nil); !bytes.Equal(sum, o.md5) {
			return fail("md5", fmt.Errorf("body MD5 %x does not match the origin's Content-MD5 %x", sum, o.md5))
		}
	}
	return n, nil
}

// writerOptions: create-only, the origin's content headers, and its ETag and
// Last-Modified (plus Expires) as user metadata. Bucket origins keep their
// user metadata too.
func (f *fill) writerOptions(o *originBody) *blob.WriterOptions {
	md := make(map[string]string, len(o.userMeta)+3)
	maps.Copy(md, o.userMeta)
	if o.meta.ETag != "" {
		md[MetaOriginETag] = o.meta.ETag
	}
	if !o.meta.LastModified.IsZero() {
		md[MetaOriginLastModified] = o.meta.LastModified.UTC().Format(http.TimeFormat)
	}
	if o.meta.Expires != "" {
		md[MetaExpires] = o.meta.Expires
	}
	return &blob.WriterOptions{
		IfNotExist:         true,
		ContentType:        o.meta.ContentType,
		ContentEncoding:    o.meta.ContentEncoding,
		ContentDisposition: o.meta.ContentDisposition,
		ContentLanguage:    o.meta.ContentLanguage,
		CacheControl:       o.meta.CacheControl,
		Metadata:           md,
	}
}

// reader follows the spool of a fill.
type reader struct {
	f      *fill
	pos    int64
	end    int64 // exclusive; -1 = to the end of the object
	closed chan struct{}
	once   sync.Once
}

// newReader returns a reader of [off, off+n) holding a reference on f.
func (f *fill) newReader(off, n int64) *reader {
	f.acquire()
	end := int64(-1)
	if n >= 0 {
		end = off + n
	}
	return &reader{f: f, pos: off, end: end, closed: make(chan struct{})}
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f := r.f
	for {
		f.mu.Lock()
		written, state, berr, ch, sp := f.written, f.state, f.bodyErr, f.notify, f.spool
		f.mu.Unlock()
		if state == bodyFailed {
			return 0, berr
		}
		end := r.end
		if size := f.meta.Size; size >= 0 && (end < 0 || end > size) {
			end = size
		}
		if state == bodyVerified && (end < 0 || end > written) {
			end = written
		}
		hi := written
		if end >= 0 && hi > end {
			hi = end
		}
		if state == bodyRunning && end >= 0 && hi == end && f.holdBack(end, written) {
			hi = end - 1 // hold the last byte back until the body is verified
		}
		if end >= 0 && r.pos >= end && (state == bodyVerified || !f.holdBack(end, written)) {
			return 0, io.EOF
		}
		if r.pos < hi {
			if sp == nil {
				return 0, errReaderClosed
			}
			k := int64(len(p))
			if hi-r.pos < k {
				k = hi - r.pos
			}
			n, err := sp.ReadAt(p[:k], r.pos)
			r.pos += int64(n)
			if n > 0 {
				return n, nil
			}
			return 0, fmt.Errorf("mirror: read spool: %w", err)
		}
		select {
		case <-ch:
		case <-r.closed:
			return 0, errReaderClosed
		}
	}
}

// holdBack reports whether a reader whose range ends at end must wait for
// the verified body before it may deliver its last byte: always when the
// range reaches the end of the object (a client must never see a clean end
// of a body that then fails), and for any range when the origin sent an MD5
// (only the whole body proves the bytes). Other ranges cannot be made wrong
// by a later failure, so they finish as soon as their bytes arrived.
func (f *fill) holdBack(end, written int64) bool {
	switch {
	case f.hasMD5:
		return true
	case f.meta.Size >= 0:
		return end >= f.meta.Size
	default:
		return written <= end // the object may end exactly here
	}
}

// Close releases the reader's hold on the fill; it may be called while a
// Read is blocked (that Read then returns an error).
func (r *reader) Close() error {
	r.once.Do(func() {
		close(r.closed)
		r.f.release()
	})
	return nil
}

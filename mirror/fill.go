package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/store"
)

// copyBufSize is the size of the buffer a fill reads its origin through.
const copyBufSize = 256 << 10

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
	rt    route
	start time.Time

	ready   chan struct{} // closed once meta or headErr is set
	meta    store.Meta
	headErr error
	origin  int  // 0-based origin of the rule that answered (or was tried last); -1: req.Origin
	ranges  bool // that origin accepts ranges: readers far ahead may ask it (ranged.go)

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
	hasMD5  bool   // the origin announced an MD5: ranges wait for the verified body
	refs    int    // the fill itself, streams and readers
}

func newFill(m *Mirror, req Request, rt route) *fill {
	return &fill{
		m:      m,
		req:    req,
		rt:     rt,
		start:  time.Now(),
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		notify: make(chan struct{}),
		refs:   1,
		origin: -1,
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
	obs := m.opts.Observer
	obs.FillStarted()
	obs.InFlight(1)
	status, n, err, stored := f.fetchAndStore(ctx)
	obs.InFlight(-1) // out of flight before anyone waiting on f.done can look

	f.result = Result{Bytes: n, Stored: stored}
	f.err = err
	result, reason := outcome(err, stored)
	if status == 0 {
		status = errStatus(err)
	}
	d := time.Since(f.start)
	m.leave(f)
	defer f.release()
	defer close(f.done) // after the journal line, so Wait sees the outcome recorded
	if f.headErr != nil {
		defer close(f.ready) // likewise for Get
	}

	obs.FillDone(result, reason, n, d)
	rule, origin := f.rt.index+1, f.origin+1
	if result == OutcomeFailed {
		m.log.Warn("fill failed", "key", f.req.Key, "rule", rule, "origin", origin, "reason", reason, "bytes", n, "err", err)
	} else {
		m.log.Debug("fill done", "key", f.req.Key, "rule", rule, "origin", origin, "result", result, "bytes", n, "duration", d)
	}
	if j := m.opts.Journal; j != nil {
		e := Entry{Time: time.Now().UTC(), Key: f.req.Key, Rule: rule, Origin: origin, Status: status,
			Bytes: n, DurationMS: d.Milliseconds(), Result: result}
		if err != nil {
			e.Error = err.Error()
		}
		if jerr := j.Append(e); jerr != nil {
			m.log.Error("journal append failed", "key", f.req.Key, "err", jerr)
		}
	}
}

// errStatus is the origin status an error carries, for the journal.
func errStatus(err error) int {
	var fe *FailedError
	var re *RedirectError
	var pe *PassError
	switch {
	case errors.As(err, &fe):
		return fe.Status
	case errors.As(err, &re):
		return re.Status
	case errors.As(err, &pe):
		return pe.Status
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	}
	return 0
}

// failHead ends a fill before any body byte: every waiting Get gets err
// once run has recorded the outcome (run closes f.ready then).
func (f *fill) failHead(err error) {
	f.headErr = err
}

// fetchAndStore fetches the origin and reads its checked body into the
// spool, which the readers follow and from which the commit (the one of
// Copy, run on its own goroutine so a slow target does not slow readers)
// stores the object once the body is complete and verified.
func (f *fill) fetchAndStore(ctx context.Context) (status int, n int64, err error, stored bool) {
	m := f.m
	o, origin, err := m.openFrom(ctx, http.MethodGet, f.rt, f.req)
	f.origin = origin
	if err != nil {
		f.failHead(err)
		return 0, 0, err, false
	}
	defer o.body.Close()
	status = o.status

	sp, err := os.CreateTemp(m.opts.SpoolDir, "ferry-fill-*")
	if err != nil {
		err = failed(status, ReasonSpool, err)
		f.failHead(err)
		return status, 0, err, false
	}
	if rerr := os.Remove(sp.Name()); rerr != nil {
		f.spoolFn = sp.Name() // cannot unlink an open file here: remove it on release
	}
	f.spool = sp
	f.meta = o.meta
	f.hasMD5 = len(o.meta.MD5) > 0
	f.ranges = o.acceptRanges && o.meta.Size > 0
	close(f.ready)
	f.journalStart()

	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	type commitResult struct {
		stored bool
		err    error
	}
	committed := make(chan commitResult, 1)
	r := f.newReader(0, -1)
	go func() {
		defer r.Close()
		stored, _, err := m.commit(cctx, f.req.Key, &o.meta, r, commitPlan{})
		committed <- commitResult{stored, err}
	}()

	n, err = f.copyBody(m.check(ctx, o))
	_ = o.body.Close() // stops the idle timer; the commit may take a while
	f.endBody(err)
	if err != nil {
		ccancel() // unblocks a commit stuck in a target write
	}
	c := <-committed
	if err != nil {
		return status, n, err, false
	}
	return status, n, c.err, c.stored
}

// journalStart writes the started line (ResultStarted) of a fill whose
// commit may become a multipart upload, so that a serve started after this
// one died can abort it (Mirror.SweepJournal).
func (f *fill) journalStart() {
	m := f.m
	size := f.meta.Size
	if m.opts.Journal == nil || !m.opts.Target.HasUploads() || (size >= 0 && size < store.MultipartThreshold) {
		return
	}
	e := Entry{Key: f.req.Key, Rule: f.rt.index + 1, Origin: f.origin + 1, Result: ResultStarted}
	if err := m.opts.Journal.Append(e); err != nil {
		m.log.Error("journal append failed", "key", f.req.Key, "err", err)
	}
}

// copyBody reads the checked origin body into the spool.
func (f *fill) copyBody(src io.Reader) (int64, error) {
	buf := make([]byte, copyBufSize)
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			if _, err := f.spool.Write(buf[:k]); err != nil {
				return n, failed(0, ReasonSpool, err)
			}
			n += int64(k)
			f.advance(n)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
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

package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// Options configures a Mirror. Zero values take the documented defaults.
type Options struct {
	Target   *store.Bucket // where fills are stored (create-only)
	SpoolDir string       // temp files for fills; default os.TempDir()

	MaxObjectSize  int64         // refuse larger objects; default 5 GiB
	ConnectTimeout time.Duration // dial; default 10s
	HeaderTimeout  time.Duration // origin response headers; default 30s
	IdleTimeout    time.Duration // no byte from the origin for this long fails the fill; default 60s
	FillTimeout    time.Duration // total deadline of a detached fill; default 1h

	// AllowPrivateRedirects lets redirects reach loopback, private, link-local
	// and similar addresses. The configured origin host is always trusted.
	AllowPrivateRedirects bool

	Via     string   // token added to the Via header of origin requests (loop protection)
	Journal *Journal // fill outcomes; nil = not journaled
	Hooks   Hooks    // metrics callbacks; nil funcs are skipped
	Logger  *slog.Logger

	// ContentTypes gives the type of plain files read from a directory
	// origin (by extension); nil: ferry's table.
	ContentTypes *store.ContentTypes

	// OpenBucket opens bucket origins; default store.OpenOrigin.
	OpenBucket func(ctx context.Context, rawURL string) (*store.Bucket, error)

	// mapAddr (tests only) rewrites host:port before dialing, standing in for
	// a resolver so redirect checks can be tested with made-up host names.
	mapAddr func(hostport string) string
}

// Hooks are called on fill events, for metrics. Every field may be nil.
type Hooks struct {
	FillStarted func()
	FillDone    func(result, reason string, bytes int64, d time.Duration) // result: stored, exists, not_found, redirect, failed
	Coalesced   func()
	OriginBytes func(n int64)
	InFlight    func(delta int)
}

// Request names one key to fetch through one rule.
type Request struct {
	Rule      *rules.Rule
	RuleIndex int // 0-based, for the journal
	Key       string
	Header    http.Header // the client's headers (the rule's policy picks what is forwarded)
	RawQuery  string      // the client's query string (forwarded when the rule says so)
}

// Meta is what the origin said about the object, available as soon as its
// response headers arrive.
type Meta struct {
	Size               int64 // -1 when the origin sent no Content-Length (chunked)
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	ETag               string // origin ETag, quoted as sent
	LastModified       time.Time
}

// ErrNotFound: the origin answered 404 (serve answers NoSuchKey).
var ErrNotFound = errors.New("origin: not found")

// RedirectError is a 3xx passed through because the rule does not follow redirects.
type RedirectError struct {
	Status   int
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("origin redirect %d to %s", e.Status, e.Location)
}

// FailedError is any other failure (serve answers 424 MirrorFailed): a non-200
// status, network error, timeout, integrity or size check.
type FailedError struct {
	Status int // origin status, 0 when none
	// Reason is short and machine-friendly: status (non-200/404 answer),
	// network, timeout (connect, headers, idle body, fill deadline), length,
	// md5, too_large, redirect_loop, redirect_blocked, refused_key (rules
	// refused the key), rule (bad rule origin), origin (bucket origin error),
	// origin_open, spool, store (target write failed), canceled (Shutdown).
	Reason string
	Err    error
}

func (e *FailedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("mirror failed (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("mirror failed (%s)", e.Reason)
}
func (e *FailedError) Unwrap() error { return e.Err }

// User metadata keys under which a fill stores what the origin said about
// the object (gocloud blob has no native field for these).
const (
	MetaOriginETag         = "origin-etag"          // the origin's ETag, quoted as sent
	MetaOriginLastModified = "origin-last-modified" // the origin's Last-Modified, HTTP date format
	MetaExpires            = "expires"              // the origin's Expires header
)

// ErrShutdown is returned by Get, Head and Fill once Shutdown or Close began.
var ErrShutdown = errors.New("mirror: shutting down")

// Defaults of Options.
const (
	DefaultMaxObjectSize  = 5 << 30
	DefaultConnectTimeout = 10 * time.Second
	DefaultHeaderTimeout  = 30 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultFillTimeout    = time.Hour
	maxRedirects          = 10
)

// Mirror runs fills, at most one per target key at a time.
type Mirror struct {
	opts Options
	log  *slog.Logger

	trusted *http.Client // the rule's configured origin host
	guarded *http.Client // hosts reached by a cross-host redirect

	base   context.Context // cancelled by Shutdown/Close to abort every fill
	cancel context.CancelFunc
	wg     sync.WaitGroup // running fills

	mu     sync.Mutex
	fills  map[string]*fill // registry: target key -> fill in flight
	closed bool

	buckets bucketCache

	direct *store.DirectPutter // small objects into an S3 target; nil = through opts.Target

	// originRequest builds the origin request (rules.OriginRequest; tests may swap it).
	originRequest func(r *rules.Rule, key string, client http.Header, rawQuery string) (*rules.Request, error)
}

// New returns a Mirror. Close or Shutdown it when done.
func New(o Options) (*Mirror, error) {
	if o.Target == nil {
		return nil, errors.New("mirror: Options.Target is required")
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	if st, err := os.Stat(o.SpoolDir); err != nil {
		return nil, fmt.Errorf("mirror: spool dir: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("mirror: spool dir %s is not a directory", o.SpoolDir)
	}
	setDefault(&o.MaxObjectSize, DefaultMaxObjectSize)
	setDefault(&o.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&o.HeaderTimeout, DefaultHeaderTimeout)
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.FillTimeout, DefaultFillTimeout)
	if o.OpenBucket == nil {
		o.OpenBucket = store.OpenOrigin
	}
	m := &Mirror{
		opts:          o,
		log:           o.Logger,
		fills:         make(map[string]*fill),
		originRequest: rules.OriginRequest,
		direct:        o.Target.Direct(),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.trusted = newClient(o, false)
	m.guarded = newClient(o, !o.AllowPrivateRedirects)
	m.base, m.cancel = context.WithCancel(context.Background())
	m.buckets.open = o.OpenBucket
	return m, nil
}

func setDefault[T int64 | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// Get starts a fill for req.Key or joins the one in flight, and returns once
// the origin's response headers are known. Errors: ErrNotFound,
// *RedirectError, *FailedError (all wrapped with the key). ctx bounds only
// the wait of this caller: the fill itself runs on a detached context and
// completes for other readers. The caller must Close the Stream.
func (m *Mirror) Get(ctx context.Context, req Request) (*Stream, error) {
	f, coalesced, err := m.join(ctx, req)
	if err != nil {
		return nil, err
	}
	if coalesced && m.opts.Hooks.Coalesced != nil {
		m.opts.Hooks.Coalesced()
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
		f.release()
		return nil, ctx.Err()
	}
	if f.headErr != nil {
		f.release()
		return nil, fmt.Errorf("fill %q: %w", req.Key, f.headErr)
	}
	return &Stream{Meta: f.meta, Coalesced: coalesced, f: f}, nil
}

// Head asks the origin for the object's headers without storing anything
// (for HEAD on a missing key when the rule has mirror_head). A fill in flight
// for the key answers instead of the origin. Errors as for Get.
func (m *Mirror) Head(ctx context.Context, req Request) (*Meta, error) {
	m.mu.Lock()
	closed := m.closed
	f := m.fills[req.Key]
	m.mu.Unlock()
	if closed {
		return nil, ErrShutdown
	}
	if f != nil {
		select {
		case <-f.ready:
			if f.headErr == nil {
				meta := f.meta
				return &meta, nil
			}
		default:
		}
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.HeaderTimeout+m.opts.ConnectTimeout)
	defer cancel()
	o, err := m.open(ctx, http.MethodHead, req)
	if err != nil {
		return nil, fmt.Errorf("head %q: %w", req.Key, err)
	}
	_ = o.body.Close()
	return &o.meta, nil
}

// Result is the outcome of a completed fill.
type Result struct {
	Bytes  int64
	Stored bool // false when the key already existed in the target (create-only lost; not an error)
}

// Fill fetches req.Key and stores it, waiting for the commit (scan and
// finalize use it for keys fetched through rules). It joins a fill already in
// flight for the key. Errors as for Get, plus *FailedError for failures after
// the headers.
func (m *Mirror) Fill(ctx context.Context, req Request) (Result, error) {
	s, err := m.Get(ctx, req)
	if err != nil {
		return Result{}, err
	}
	_ = s.Close()
	res, err := s.Wait(ctx)
	if err != nil {
		return res, fmt.Errorf("fill %q: %w", req.Key, err)
	}
	return res, nil
}

// Shutdown refuses new fills and waits for in-flight fills until ctx is done,
// then cancels the rest (their readers get errors, nothing partial is
// stored, spool files are removed). It closes cached origin buckets and idle
// origin connections and syncs the journal (which the caller still closes).
// It returns ctx.Err() when fills had to be cancelled.
func (m *Mirror) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		m.cancel()
		<-done
	}
	m.cancel()
	m.trusted.CloseIdleConnections()
	m.guarded.CloseIdleConnections()
	if cerr := m.buckets.close(); cerr != nil && err == nil {
		err = cerr
	}
	if m.opts.Journal != nil {
		if serr := m.opts.Journal.Sync(); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

// Close cancels every fill in flight at once and releases resources; it is
// Shutdown with no grace period and returns nil when that went cleanly.
func (m *Mirror) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Stream is one reader's view of a fill.
type Stream struct {
	Meta      Meta
	Coalesced bool // joined a fill started by another request

	f      *fill
	closed atomic.Bool
}

// NewReader returns a reader of bytes [off, off+n) of the object (n < 0: to
// the end) that follows the spool as bytes arrive. A failed fill makes Read
// return an error (never io.EOF early): a read reaching the end of the object
// (or any read, when the origin sent Content-MD5) holds its last byte back
// until the whole body passed the integrity checks. Close the reader when
// done; it stays valid after Stream.Close.
func (s *Stream) NewReader(off, n int64) io.ReadCloser {
	if off < 0 {
		return io.NopCloser(errReader{fmt.Errorf("mirror: negative offset %d", off)})
	}
	if s.closed.Load() {
		return io.NopCloser(errReader{errors.New("mirror: NewReader on a closed Stream")})
	}
	return s.f.newReader(off, n)
}

// Wait blocks until the fill has committed (or failed) and returns its
// result. A fill whose bytes all reached the readers can still fail to be
// stored (reason "store").
func (s *Stream) Wait(ctx context.Context) (Result, error) {
	select {
	case <-s.f.done:
		return s.f.result, s.f.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Close releases this stream's hold on the fill (the fill itself goes on;
// readers already created stay usable until closed).
func (s *Stream) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.f.release()
	}
	return nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

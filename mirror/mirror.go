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
	"golang.org/x/time/rate"
)

// Options configures a Mirror. Zero values take the documented defaults.
type Options struct {
	Target   *store.Bucket // where objects are stored (create-only)
	SpoolDir string        // temp files for fills; default os.TempDir()

	MaxObjectSize  int64         // refuse larger objects; default 5 GiB
	ConnectTimeout time.Duration // dial; default 10s
	HeaderTimeout  time.Duration // origin response headers; default 30s
	IdleTimeout    time.Duration // no byte from the origin for this long fails the fetch; default 60s
	FillTimeout    time.Duration // total deadline of a detached fill; default 1h

	// AllowPrivateRedirects lets redirects reach loopback, private, link-local
	// and similar addresses. The configured origin host is always trusted.
	AllowPrivateRedirects bool

	Via      string   // token added to the Via header of origin requests (loop protection)
	Journal  *Journal // fill outcomes; nil = not journaled
	Observer Observer // fill events, for metrics; nil = NoObserver
	Logger   *slog.Logger

	// BWLimit bounds the bytes per second Copy reads from origins; 0 = unlimited.
	BWLimit int64

	// ContentTypes gives the type of plain files read from a directory
	// origin (by extension); nil: ferry's table.
	ContentTypes *store.ContentTypes

	// OpenBucket opens bucket origins; default store.OpenOrigin.
	OpenBucket func(ctx context.Context, rawURL string) (*store.Bucket, error)

	// uploadSkew (tests only) replaces defaultUploadSkew, the clock skew
	// allowed between ferry and the target when uploads are swept.
	uploadSkew time.Duration

	// mapAddr (tests only) rewrites host:port before dialing, standing in for
	// a resolver so redirect checks can be tested with made-up host names.
	mapAddr func(hostport string) string
}

// Defaults of Options.
const (
	DefaultMaxObjectSize  = 5 << 30
	DefaultConnectTimeout = 10 * time.Second
	DefaultHeaderTimeout  = 30 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultFillTimeout    = time.Hour
	maxRedirects          = 10
)

// withDefaults returns o with every zero value replaced by its default.
func (o Options) withDefaults() Options {
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	setDefault(&o.MaxObjectSize, DefaultMaxObjectSize)
	setDefault(&o.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&o.HeaderTimeout, DefaultHeaderTimeout)
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.FillTimeout, DefaultFillTimeout)
	setDefault(&o.uploadSkew, defaultUploadSkew)
	if o.OpenBucket == nil {
		o.OpenBucket = store.OpenOrigin
	}
	if o.Observer == nil {
		o.Observer = NoObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func setDefault[T int64 | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// Request names one object: Key, the key in the target (always what is
// stored), and where it comes from: through the first rule of Rules that
// matches Key (serve, key lists, rules test), or, when Origin is set,
// straight from that listable origin bucket under the same key (scan).
type Request struct {
	Key      string
	Rules    *rules.Set  // matched against Key by the mirror
	Header   http.Header // the client's headers (the rule's policy picks what is forwarded)
	RawQuery string      // the client's query string (forwarded when the rule says so)

	Origin *store.Bucket // instead of Rules: a listable origin

	// MD5 is the body's expected MD5 when the caller knows it (a listing, a
	// key list); it is checked before the commit, in place of the origin's.
	MD5 []byte
	// Reserved is how many bytes of memory the caller has set aside for this
	// object (scan's in-flight budget): an object of known size up to that
	// many bytes, below the multipart size, may be held whole for one direct
	// PUT. Without it only objects up to store.DirectPutMax are.
	Reserved int64
}

// Result is the outcome of a stored object.
type Result struct {
	Bytes  int64
	Stored bool // false when the key already existed in the target (create-only lost; not an error)
}

// Mirror moves objects from origins into its target: fills (Get, one per
// key at a time, shared by every reader through a spool) and plain copies
// (Copy).
type Mirror struct {
	*origins
	opts Options
	log  *slog.Logger
	bw   *rate.Limiter // Options.BWLimit; nil = unlimited

	base   context.Context // cancelled by Shutdown/Close to abort every fill
	cancel context.CancelFunc
	wg     sync.WaitGroup // running fills

	mu     sync.Mutex
	fills  map[string]*fill // registry: target key -> fill in flight
	closed bool
}

// New returns a Mirror. Close or Shutdown it when done.
func New(o Options) (*Mirror, error) {
	if o.Target == nil {
		return nil, errors.New("mirror: Options.Target is required")
	}
	o = o.withDefaults()
	if st, err := os.Stat(o.SpoolDir); err != nil {
		return nil, fmt.Errorf("mirror: spool dir: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("mirror: spool dir %s is not a directory", o.SpoolDir)
	}
	m := &Mirror{origins: newOrigins(o), opts: o, log: o.Logger, fills: make(map[string]*fill)}
	if o.BWLimit > 0 {
		m.bw = rate.NewLimiter(rate.Limit(o.BWLimit), int(min(o.BWLimit, 256<<10)))
	}
	m.base, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Get starts a fill for req.Key or joins the one in flight, and returns once
// the origin's response headers are known. Errors: ErrNoRule, ErrNotFound,
// *RedirectError, *PassError, *FailedError (all wrapped with the key). ctx
// bounds only the wait of this caller: the fill itself runs on a detached
// context and completes for other readers. Under a store: false rule there
// is no fill: the Stream reads this request's own origin answer (see
// Stream.Proxied), and ctx bounds it. The caller must Close the Stream.
func (m *Mirror) Get(ctx context.Context, req Request) (*Stream, error) {
	rt, err := match(req, http.MethodGet)
	if err != nil {
		return nil, fmt.Errorf("fill %q: %w", req.Key, err)
	}
	if rt.rule != nil && !rt.rule.Stores() {
		return m.proxy(ctx, req, rt)
	}
	f, coalesced, err := m.join(ctx, req, rt)
	if err != nil {
		return nil, err
	}
	if coalesced {
		m.opts.Observer.Coalesced()
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
	return &Stream{meta: f.meta, coalesced: coalesced, f: f}, nil
}

// Head asks the origin for the object's headers without storing anything
// (for HEAD on a missing key when the rule has mirror_head). A fill in flight
// for the key answers instead of the origin. Errors as for Get.
func (m *Mirror) Head(ctx context.Context, req Request) (*store.Meta, error) {
	rt, err := match(req, http.MethodHead)
	if err != nil {
		return nil, fmt.Errorf("head %q: %w", req.Key, err)
	}
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
	o, err := m.open(ctx, http.MethodHead, rt, req)
	if err != nil {
		return nil, fmt.Errorf("head %q: %w", req.Key, err)
	}
	_ = o.body.Close()
	return &o.meta, nil
}

// Copy fetches req.Key and stores it create-only, without a spool and
// without coalescing: the bulk path of scan and finalize, where each key is
// copied once. The body is checked (length, MD5, size limit) before the
// commit; nothing partial is ever visible. Errors: ErrNoRule (ErrProxyOnly
// under a store: false rule, which is not fetched), ErrNotFound,
// *RedirectError, *FailedError (a pass_status answer too: a copy has no
// client to pass it to).
func (m *Mirror) Copy(ctx context.Context, req Request) (Result, error) {
	rt, err := match(req, http.MethodGet)
	if err == nil && rt.rule != nil && !rt.rule.Stores() {
		err = ErrProxyOnly
	}
	if err != nil {
		return Result{}, fmt.Errorf("copy %q: %w", req.Key, err)
	}
	o, err := m.open(ctx, http.MethodGet, rt, req)
	var pe *PassError
	if errors.As(err, &pe) {
		err = failed(pe.Status, ReasonStatus, fmt.Errorf("origin answered %d %s", pe.Status, http.StatusText(pe.Status)))
	}
	if err != nil {
		return Result{}, fmt.Errorf("copy %q: %w", req.Key, err)
	}
	defer o.body.Close()
	if len(req.MD5) > 0 {
		o.meta.MD5 = req.MD5
	}
	var src io.Reader = m.check(ctx, o)
	if m.bw != nil {
		src = &limitReader{ctx: ctx, r: src, lim: m.bw}
	}
	stored, n, err := m.commit(ctx, req.Key, &o.meta, src, commitPlan{reserved: req.Reserved, parallel: true})
	if err != nil {
		return Result{Bytes: n}, fmt.Errorf("copy %q: %w", req.Key, err)
	}
	return Result{Bytes: n, Stored: stored}, nil
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
	if cerr := m.origins.close(); cerr != nil && err == nil {
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

// Stream is one reader's view of a fill, or of a proxied origin answer.
type Stream struct {
	meta      store.Meta
	coalesced bool

	f      *fill
	direct *direct // instead of f: a store: false request's own answer
	closed atomic.Bool
}

// Meta is what the origin said about the object.
func (s *Stream) Meta() store.Meta { return s.meta }

// Coalesced reports that this stream joined a fill started by another request.
func (s *Stream) Coalesced() bool { return s.coalesced }

// Proxied reports that the stream reads an origin answer of its own under a
// store: false rule: nothing is spooled or stored.
func (s *Stream) Proxied() bool { return s.direct != nil }

// NewReader returns a reader of bytes [off, off+n) of the object (n < 0: to
// the end) that follows the spool as bytes arrive. A failed fill makes Read
// return an error (never io.EOF early): a read reaching the end of the object
// (or any read, when the origin sent Content-MD5) holds its last byte back
// until the whole body passed the integrity checks. A range that starts more
// than RangeAhead bytes beyond what the fill holds, from an origin that
// accepts ranges, is read from a ranged origin request of its own (checked
// against the fill's size and validators; when the origin's answer cannot be
// used, the reader follows the spool). Close the reader when done; it stays
// valid after Stream.Close. A proxied Stream has one reader.
func (s *Stream) NewReader(off, n int64) io.ReadCloser {
	if off < 0 {
		return io.NopCloser(errReader{fmt.Errorf("mirror: negative offset %d", off)})
	}
	if s.closed.Load() {
		return io.NopCloser(errReader{errors.New("mirror: NewReader on a closed Stream")})
	}
	if s.direct != nil {
		return s.direct.reader(off, n)
	}
	return s.f.streamReader(off, n)
}

// Wait blocks until the fill has committed (or failed) and returns its
// result. A fill whose bytes all reached the readers can still fail to be
// stored (reason "store"). A proxied Stream stores nothing: Wait returns a
// zero Result at once.
func (s *Stream) Wait(ctx context.Context) (Result, error) {
	if s.direct != nil {
		return Result{}, nil
	}
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
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.direct != nil {
		s.direct.release()
	} else {
		s.f.release()
	}
	return nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

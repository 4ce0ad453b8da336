// Package serve is the HTTP surface of the lazy mirror: S3-style GET and HEAD
// served from the target, misses filled from the origin through the mirror
// engine, S3 XML errors, the admin listener (/metrics, /healthz, /readyz),
// configuration reload and graceful shutdown.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"golang.org/x/sync/errgroup"
)

// Addressing modes.
const (
	AddressingDomain = "domain" // the request path is the key
	AddressingPath   = "path"   // /bucket/key
)

// Settings are what a reload can change without a restart.
type Settings struct {
	Addressing string     // AddressingDomain (default) or AddressingPath
	Bucket     string     // bucket name expected in path addressing; "" accepts any
	Rules      *rules.Set // back-to-origin rules; nil = none
}

// Validate checks the settings.
func (s Settings) Validate() error {
	switch s.Addressing {
	case AddressingDomain, AddressingPath:
	default:
		return fmt.Errorf("serve.addressing: %q is not one of domain, path", s.Addressing)
	}
	return nil
}

// Defaults of Options.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultWriteIdleTimeout  = 60 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultGrace             = 30 * time.Second
	DefaultWatchInterval     = 2 * time.Second
	DefaultVia               = "ferry"
)

// Options configures a Server. Zero values take the defaults above.
type Options struct {
	// Target is required. A local directory target's hits are sent straight
	// from the file (store.Bucket.OpenFile, sendfile).
	Target *store.Bucket
	// Mirror fills misses through the rules of the settings; nil: every miss
	// is 404 NoSuchKey (a server of hits only).
	Mirror  *mirror.Mirror
	Metrics *Metrics // nil: NewMetrics()
	Logger  *slog.Logger
	// AccessLog receives one line per request; nil: Logger.
	AccessLog *slog.Logger

	Listen        string       // data address, e.g. ":8080"
	AdminListen   string       // admin address; "" disables the admin listener
	Listener      net.Listener // optional: use instead of Listen (tests)
	AdminListener net.Listener // optional: use instead of AdminListen

	Via               string        // loop-protection token (also given to the mirror); default "ferry"
	ReadHeaderTimeout time.Duration // default 10s
	IdleTimeout       time.Duration // keep-alive idle; default 120s
	WriteIdleTimeout  time.Duration // no write progress for this long aborts a response; default 60s
	MaxHeaderBytes    int           // default 64 KiB
	Grace             time.Duration // drain time on shutdown, after ShutdownDelay; default 30s
	// ShutdownDelay: once Run's context is done, readiness answers 503 and
	// the listeners keep serving this long before the drain starts, so load
	// balancers take the replica out before it refuses connections; 0 (the
	// default) drains at once.
	ShutdownDelay time.Duration

	// Build names the running binary in ferry_build_info.
	Build BuildInfo

	Settings Settings // initial settings

	// Reload, when set, loads fresh settings; it is called on SIGHUP-like
	// signals from ReloadSignal and when WatchFile changes (polled every
	// WatchInterval). A failing reload keeps the old settings.
	Reload        func(ctx context.Context) (Settings, error)
	WatchFile     string
	WatchFiles    []string // more files watched like WatchFile (the rules_file)
	WatchInterval time.Duration
	ReloadSignal  <-chan os.Signal
}

// Server is a running lazy mirror.
type Server struct {
	opts     Options
	log      *slog.Logger
	access   *slog.Logger
	metrics  *Metrics
	settings atomic.Pointer[Settings]
	ready    atomic.Bool
	draining atomic.Bool
	idPrefix string
	idSeq    atomic.Uint64
	reloadMu sync.Mutex
	delayCut chan struct{} // closed by cutDelay
	cutOnce  sync.Once
}

// New checks the options and returns a Server; Run starts it.
func New(o Options) (*Server, error) {
	if o.Target == nil {
		return nil, errors.New("serve: no target bucket")
	}
	if o.Settings.Addressing == "" {
		o.Settings.Addressing = AddressingDomain
	}
	if err := o.Settings.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AccessLog == nil {
		o.AccessLog = o.Logger
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Via == "" {
		o.Via = DefaultVia
	}
	setDefault(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.WriteIdleTimeout, DefaultWriteIdleTimeout)
	setDefault(&o.Grace, DefaultGrace)
	setDefault(&o.WatchInterval, DefaultWatchInterval)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.ShutdownDelay < 0 {
		return nil, fmt.Errorf("serve.shutdown_delay: %v must not be negative", o.ShutdownDelay)
	}
	s := &Server{opts: o, log: o.Logger, access: o.AccessLog, metrics: o.Metrics, delayCut: make(chan struct{})}
	s.metrics.setBuild(o.Build)
	s.idPrefix = fmt.Sprintf("%08X", uint32(time.Now().UnixNano()^int64(os.Getpid())<<20))
	st := o.Settings
	s.settings.Store(&st)
	s.metrics.rules.Set(float64(ruleCount(st.Rules)))
	s.ready.Store(true)
	return s, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func ruleCount(set *rules.Set) int {
	if set == nil {
		return 0
	}
	return len(set.Rules)
}

// Settings returns the settings in effect.
func (s *Server) Settings() Settings { return *s.settings.Load() }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Handler returns the data handler (GET/HEAD of objects).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// AdminHandler returns /metrics, /healthz and /readyz.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

// readyz: ready when not draining, settings are loaded and the target
// answers a cheap call.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fail := func(msg string) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(msg + "\n"))
	}
	if s.draining.Load() {
		fail("draining")
		return
	}
	if !s.ready.Load() || s.settings.Load() == nil {
		fail("settings not loaded")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	ok, err := s.opts.Target.IsAccessible(ctx)
	if err != nil || !ok {
		msg := "target not reachable"
		if err != nil {
			msg += ": " + err.Error()
		}
		fail(msg)
		return
	}
	_, _ = fmt.Fprintf(w, "ok (%d rules)\n", ruleCount(s.settings.Load().Rules))
}

// Reload loads new settings through Options.Reload and swaps them in
// atomically; on error the old settings keep serving.
func (s *Server) Reload(ctx context.Context) error {
	if s.opts.Reload == nil {
		return errors.New("reload: no configuration source")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st, err := s.opts.Reload(ctx)
	if err == nil {
		if st.Addressing == "" {
			st.Addressing = AddressingDomain
		}
		err = st.Validate()
	}
	if err != nil {
		s.metrics.reloads.WithLabelValues("refused").Inc()
		s.log.Error("configuration reload refused; the previous configuration keeps serving", "err", err)
		return err
	}
	s.settings.Store(&st)
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.metrics.rules.Set(float64(ruleCount(st.Rules)))
	s.log.Info("configuration reloaded", "rules", ruleCount(st.Rules), "addressing", st.Addressing)
	return nil
}

// watch reloads on signals and when a watched file changed (see
// fileChanges), until ctx is done.
func (s *Server) watch(ctx context.Context) {
	var files []*watchedFile
	for _, f := range append([]string{s.opts.WatchFile}, s.opts.WatchFiles...) {
		if f != "" {
			files = append(files, &watchedFile{name: f, changes: fileChanges{loaded: statFile(f)}})
		}
	}
	var tick <-chan time.Time
	if len(files) > 0 {
		t := time.NewTicker(s.opts.WatchInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-s.opts.ReloadSignal:
			if !ok {
				return
			}
			s.log.Info("reload requested by signal")
			_ = s.Reload(ctx)
		case <-tick:
			for _, f := range files {
				if s.poll(f) {
					s.log.Info("config file changed, reloading", "file", f.name)
					_ = s.Reload(ctx)
				}
			}
		}
	}
}

// watchedFile is one file watch polls.
type watchedFile struct {
	name    string
	changes fileChanges
	warned  bool // its being unreadable was logged
}

// poll stats f and reports whether to reload; a file that cannot be read
// keeps the current configuration (logged once).
func (s *Server) poll(f *watchedFile) bool {
	st := statFile(f.name)
	if st.err != nil && !f.warned {
		s.log.Warn("config file not readable; keeping the current configuration", "file", f.name, "err", st.err)
	}
	f.warned = st.err != nil
	return f.changes.changed(st)
}

// fileStamp is what a poll sees of a file: mtime and size, or the error.
type fileStamp struct {
	mod  int64 // UnixNano
	size int64
	err  error
}

func statFile(name string) fileStamp {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{err: err}
	}
	return fileStamp{mod: fi.ModTime().UnixNano(), size: fi.Size()}
}

func (a fileStamp) same(b fileStamp) bool {
	return (a.err != nil) == (b.err != nil) && a.mod == b.mod && a.size == b.size
}

// fileChanges decides, poll by poll, when a watched file changed: once its
// mtime or size differ from the version last loaded and have stayed the
// same for one more poll, so a file caught while it is being written
// (truncated, or before its final mtime) is not loaded.
type fileChanges struct {
	loaded  fileStamp // at start, or at the last change reported
	pending *fileStamp
}

// changed records one poll and reports whether to reload now. A file that
// cannot be read is never reported; its return (settled) is.
func (c *fileChanges) changed(st fileStamp) bool {
	switch {
	case st.same(c.loaded):
		c.pending = nil
		return false
	case c.pending == nil || !st.same(*c.pending):
		c.pending = &st
		return false
	}
	c.loaded, c.pending = st, nil
	return st.err == nil
}

// Run serves until ctx is cancelled, then shuts down in order: readiness
// turns 503 ("draining") at once while both listeners keep serving for
// ShutdownDelay, so load balancers stop sending before any connection is
// refused (responses meanwhile carry Connection: close, moving keep-alive
// clients elsewhere); then the data listener closes and in-flight responses
// get up to Grace; then the mirror shuts down within what is left of the
// grace period; the admin listener closes last. Run returns nil after that
// drain, or the error of a listener that cannot be opened or fails (then it
// drains at once, without the delay).
func (s *Server) Run(ctx context.Context) error {
	ln, aln, err := s.listen()
	if err != nil {
		return err
	}
	data, admin := s.httpServers()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveOn(data, ln, "serve") })
	if admin != nil {
		g.Go(func() error { return serveOn(admin, aln, "serve: admin") })
	}
	g.Go(func() error {
		s.watch(gctx)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		// ctx itself is done on a requested stop; otherwise a listener failed.
		s.shutdown(ctx.Err() != nil, data, admin)
		return nil
	})
	attrs := []any{"listen", ln.Addr().String(), "addressing", s.Settings().Addressing, "rules", ruleCount(s.Settings().Rules)}
	if aln != nil {
		attrs = append(attrs, "admin", aln.Addr().String())
	}
	s.log.Info("serving", attrs...)
	err = g.Wait()
	s.log.Info("stopped")
	return err
}

// listen opens the data listener and, when configured, the admin listener
// (or takes the ones given in Options).
func (s *Server) listen() (ln, aln net.Listener, err error) {
	ln = s.opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", s.opts.Listen); err != nil {
			return nil, nil, fmt.Errorf("serve: listen %s: %w", s.opts.Listen, err)
		}
	}
	aln = s.opts.AdminListener
	if aln == nil && s.opts.AdminListen != "" {
		if aln, err = net.Listen("tcp", s.opts.AdminListen); err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("serve: admin listen %s: %w", s.opts.AdminListen, err)
		}
	}
	return ln, aln, nil
}

// httpServers builds the data server and, when there is an admin
// listener, the admin server (nil otherwise).
func (s *Server) httpServers() (data, admin *http.Server) {
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	data = &http.Server{
		Handler:           s.closeWhenDraining(s.Handler()),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	if s.opts.AdminListener == nil && s.opts.AdminListen == "" {
		return data, nil
	}
	admin = &http.Server{
		Handler:           s.AdminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	return data, admin
}

// serveOn runs srv on ln until it is shut down (nil) or fails.
func serveOn(srv *http.Server, ln net.Listener, what string) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// closeWhenDraining asks clients to close their connection after each
// response once draining began, so keep-alive clients reconnect (through
// the load balancer, to another replica) instead of holding on to this one.
func (s *Server) closeWhenDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// shutdown is Run's drain: readiness off, the shutdown delay (when delay is
// set), the data server's graceful shutdown within Grace, the mirror, the
// admin server.
func (s *Server) shutdown(delay bool, data, admin *http.Server) {
	s.draining.Store(true)
	if delay && s.opts.ShutdownDelay > 0 {
		s.log.Info("shutting down: not ready, serving on for the shutdown delay", "shutdown_delay", s.opts.ShutdownDelay)
		t := time.NewTimer(s.opts.ShutdownDelay)
		select {
		case <-t.C:
		case <-s.delayCut:
		}
		t.Stop()
	}
	s.log.Info("shutting down: draining in-flight requests", "grace", s.opts.Grace)
	graceCtx, cancel := context.WithTimeout(context.Background(), s.opts.Grace)
	defer cancel()
	if err := data.Shutdown(graceCtx); err != nil {
		s.log.Warn("grace period over: closing remaining connections", "err", err)
		_ = data.Close()
	}
	s.shutdownMirror(graceCtx)
	if admin != nil {
		actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := admin.Shutdown(actx); err != nil {
			_ = admin.Close()
		}
		acancel()
	}
}

// shutdownMirror lets running fills finish within what is left of the grace
// period (at least a last second to cancel cleanly and flush the journal).
func (s *Server) shutdownMirror(graceCtx context.Context) {
	if s.opts.Mirror == nil {
		return
	}
	mctx, mcancel := graceCtx, context.CancelFunc(func() {})
	if graceCtx.Err() != nil {
		mctx, mcancel = context.WithTimeout(context.Background(), time.Second)
	}
	defer mcancel()
	if err := s.opts.Mirror.Shutdown(mctx); err != nil {
		s.log.Warn("mirror shutdown", "err", err)
	}
}

// cutDelay ends a running shutdown delay at once (tests, which cannot wait
// for a delay long enough to hold on a loaded machine).
func (s *Server) cutDelay() { s.cutOnce.Do(func() { close(s.delayCut) }) }

func itoa(i int) string { return strconv.Itoa(i) }

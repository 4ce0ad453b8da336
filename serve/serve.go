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
	Grace             time.Duration // drain time on shutdown; default 30s

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
	s := &Server{opts: o, log: o.Logger, access: o.AccessLog, metrics: o.Metrics}
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

// watch reloads on signals and when a watched file's mtime or size
// changes (or it appears or goes away), until ctx is done.
func (s *Server) watch(ctx context.Context) {
	var files []string
	for _, f := range append([]string{s.opts.WatchFile}, s.opts.WatchFiles...) {
		if f != "" {
			files = append(files, f)
		}
	}
	last := make([]os.FileInfo, len(files))
	for i, f := range files {
		last[i], _ = os.Stat(f)
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
			for i, f := range files {
				if s.changed(f, &last[i]) {
					s.log.Info("config file changed, reloading", "file", f)
					_ = s.Reload(ctx)
				}
			}
		}
	}
}

// changed reports whether file differs from *last (updating it). A file
// that cannot be read keeps the current configuration; one that appears
// again (or for the first time) counts as changed.
func (s *Server) changed(file string, last *os.FileInfo) bool {
	st, err := os.Stat(file)
	if err != nil {
		if *last != nil {
			s.log.Warn("config file not readable; keeping the current configuration", "file", file, "err", err)
		}
		*last = nil
		return false
	}
	if *last != nil && st.ModTime().Equal((*last).ModTime()) && st.Size() == (*last).Size() {
		return false
	}
	*last = st
	return true
}

// Run serves until ctx is cancelled, then drains: it stops accepting,
// waits up to Grace for in-flight responses (closing the rest), shuts the
// mirror down within what is left of the grace period and returns nil. It
// returns an error only when a listener cannot be opened or fails.
func (s *Server) Run(ctx context.Context) error {
	ln := s.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opts.Listen); err != nil {
			return fmt.Errorf("serve: listen %s: %w", s.opts.Listen, err)
		}
	}
	aln := s.opts.AdminListener
	if aln == nil && s.opts.AdminListen != "" {
		var err error
		if aln, err = net.Listen("tcp", s.opts.AdminListen); err != nil {
			ln.Close()
			return fmt.Errorf("serve: admin listen %s: %w", s.opts.AdminListen, err)
		}
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	data := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	var admin *http.Server
	if aln != nil {
		admin = &http.Server{
			Handler:           s.AdminHandler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       s.opts.IdleTimeout,
			MaxHeaderBytes:    s.opts.MaxHeaderBytes,
			ErrorLog:          errLog,
		}
	}

	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := data.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve: %w", err)
		}
	}()
	if admin != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := admin.Serve(aln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve: admin: %w", err)
			}
		}()
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.watch(watchCtx)
	}()
	attrs := []any{"listen", ln.Addr().String(), "addressing", s.Settings().Addressing, "rules", ruleCount(s.Settings().Rules)}
	if aln != nil {
		attrs = append(attrs, "admin", aln.Addr().String())
	}
	s.log.Info("serving", attrs...)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	stopWatch()

	// Drain: readiness goes false first so load balancers stop sending.
	s.draining.Store(true)
	s.log.Info("shutting down: draining in-flight requests", "grace", s.opts.Grace)
	graceCtx, cancel := context.WithTimeout(context.Background(), s.opts.Grace)
	defer cancel()
	if err := data.Shutdown(graceCtx); err != nil {
		s.log.Warn("grace period over: closing remaining connections", "err", err)
		_ = data.Close()
	}
	if s.opts.Mirror != nil {
		mctx, mcancel := graceCtx, context.CancelFunc(func() {})
		if graceCtx.Err() != nil {
			// Give fills a last moment to cancel cleanly and flush the journal.
			mctx, mcancel = context.WithTimeout(context.Background(), time.Second)
		}
		if err := s.opts.Mirror.Shutdown(mctx); err != nil {
			s.log.Warn("mirror shutdown", "err", err)
		}
		mcancel()
	}
	if admin != nil {
		actx, acancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := admin.Shutdown(actx); err != nil {
			_ = admin.Close()
		}
		acancel()
	}
	wg.Wait()
	s.log.Info("stopped")
	return runErr
}

func itoa(i int) string { return strconv.Itoa(i) }

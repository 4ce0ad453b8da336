package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/serve"
	"github.com/spf13/cobra"
)

// serveConfig holds the serve.* keys.
type serveConfig struct {
	Listen                string
	AdminListen           string
	Addressing            string
	Bucket                string
	Grace                 time.Duration
	ShutdownDelay         time.Duration
	ReadHeaderTimeout     time.Duration
	IdleTimeout           time.Duration
	WriteIdleTimeout      time.Duration
	MaxHeaderBytes        int
	MaxObjectSize         int64
	ConnectTimeout        time.Duration
	OriginHeaderTimeout   time.Duration
	OriginIdleTimeout     time.Duration
	FillTimeout           time.Duration
	AllowPrivateRedirects bool
	SpoolDir              string
	Via                   string
	AccessLog             bool
	ReloadInterval        time.Duration
}

func (s *serveConfig) keys() []key {
	return []key{
		{"serve.listen", "listen", "address the mirror listens on", confval.String(&s.Listen, ":8080", confval.NotEmpty, serve.CheckListen)},
		{"serve.admin_listen", "admin-listen", `address of /metrics, /healthz, /readyz ("" disables it)`, confval.String(&s.AdminListen, "127.0.0.1:9091", serve.CheckListen)},
		{"serve.addressing", "addressing", "domain (the path is the key) or path (/bucket/key, for S3 clients)",
			confval.String(&s.Addressing, serve.AddressingDomain, confval.OneOf([]string{serve.AddressingDomain, serve.AddressingPath}))},
		{"serve.bucket", "bucket", `bucket name expected in path addressing ("" accepts any)`, confval.String(&s.Bucket, "")},
		{"serve.grace", "grace", "on SIGTERM/SIGINT, how long in-flight responses and fills may finish", confval.Duration(&s.Grace, serve.DefaultGrace)},
		{"serve.shutdown_delay", "shutdown-delay", "on SIGTERM/SIGINT, how long /readyz answers 503 while serving goes on, before the drain (so load balancers stop sending first)", confval.Delay(&s.ShutdownDelay, 0)},
		{"serve.read_header_timeout", "", "time a client has to send the request headers", confval.Duration(&s.ReadHeaderTimeout, serve.DefaultReadHeaderTimeout)},
		{"serve.idle_timeout", "", "keep-alive connections idle this long are closed", confval.Duration(&s.IdleTimeout, serve.DefaultIdleTimeout)},
		{"serve.write_idle_timeout", "", "a response that makes no write progress this long is aborted (idle, not total)", confval.Duration(&s.WriteIdleTimeout, serve.DefaultWriteIdleTimeout)},
		{"serve.max_header_bytes", "", "largest request header block accepted (a size: 64K, 1M)", confval.Size(&s.MaxHeaderBytes, serve.DefaultMaxHeaderBytes, 1024)},
		{"serve.max_object_size", "", "fills of larger objects fail (a size: 5GiB, 500M)", confval.Size(&s.MaxObjectSize, mirror.DefaultMaxObjectSize, 1)},
		{"serve.connect_timeout", "", "origin dial timeout", confval.Duration(&s.ConnectTimeout, mirror.DefaultConnectTimeout)},
		{"serve.origin_header_timeout", "", "time the origin has to send response headers", confval.Duration(&s.OriginHeaderTimeout, mirror.DefaultHeaderTimeout)},
		{"serve.origin_idle_timeout", "", "a fill whose origin sends no byte this long fails", confval.Duration(&s.OriginIdleTimeout, mirror.DefaultIdleTimeout)},
		{"serve.fill_timeout", "", "total deadline of one fill", confval.Duration(&s.FillTimeout, mirror.DefaultFillTimeout)},
		{"serve.allow_private_redirects", "", "let origin redirects reach loopback, private and link-local addresses", confval.Bool(&s.AllowPrivateRedirects, false)},
		{"serve.spool_dir", "", "directory for fill spool files (default: the system temp dir)", confval.String(&s.SpoolDir, "")},
		{"serve.via", "", "Via token added to origin requests; a request carrying it is refused with 508 (loop)", confval.String(&s.Via, serve.DefaultVia, serve.CheckVia)},
		{"serve.access_log", "", "log one line per request", confval.Bool(&s.AccessLog, true)},
		{"serve.reload_interval", "", "how often the config file is checked for changes", confval.Duration(&s.ReloadInterval, serve.DefaultWatchInterval)},
	}
}

func newServeCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the lazy mirror: hits from the target, misses filled from the origin",
		Long: `serve answers S3-style GET and HEAD requests from the target. A key the target
lacks is fetched from the origin by the first matching back-to-origin rule,
streamed to the client and stored in the target (create-only), so the next
request is a hit. Without a matching rule a miss is 404 NoSuchKey.

Addressing: "domain" (the request path is the key, for a service domain pointed
at ferry) or "path" (/bucket/key, so S3 clients such as rclone or the AWS CLI
can read anonymously through it).

The rules and serve.addressing/serve.bucket are reloaded without a restart when
the config file changes or on SIGHUP; an invalid configuration is refused and
the previous one keeps serving. SIGTERM or SIGINT drains in-flight responses
within serve.grace, finishes or cancels fills, flushes the journal and exits 0.

Admin endpoints on --admin-listen: /metrics (Prometheus), /healthz, /readyz.
Fill outcomes are journaled in <state_dir>/serve-journal-<host>.jsonl for finalize.

` + exitCodesHelp,
		Example: `  ferry serve --target s3://new-bucket?endpoint=https://s3.example.com --config ferry.yaml
  ferry serve --target ./data --addressing path --bucket site --listen 127.0.0.1:8080`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), a, cmd)
		},
	}
	addKeyFlags(c.Flags(), "serve.listen", "serve.admin_listen", "serve.addressing", "serve.bucket", "serve.grace", "serve.shutdown_delay")
	return c
}

// serveSettings turns a configuration into serve's reloadable settings.
// The rules are refused when one points back at this server (rules.CheckLoop);
// at run time the Via token catches loops through other hosts.
func serveSettings(cfg *Config, log *slog.Logger) (serve.Settings, error) {
	ca := &app{cfg: cfg}
	set, err := loadRules(ca)
	if err != nil {
		return serve.Settings{}, err
	}
	if err := rules.CheckLoop(set, selfAddrs(ca)); err != nil {
		return serve.Settings{}, asUsage(err)
	}
	for _, w := range set.Warnings {
		log.Warn("rules: " + w)
	}
	return serve.Settings{Addressing: cfg.Serve.Addressing, Bucket: cfg.Serve.Bucket, Rules: set}, nil
}

// fetchOptions are the origin fetch settings (serve.* keys) of every
// command that fetches through the rules: serve's fills, scan's key lists
// and rules test --fetch send the same requests.
func fetchOptions(cfg *Config, log *slog.Logger) (mirror.Options, error) {
	sc := cfg.Serve
	types, err := cfg.contentTypes()
	if err != nil {
		return mirror.Options{}, err
	}
	return mirror.Options{
		SpoolDir:              sc.SpoolDir,
		MaxObjectSize:         sc.MaxObjectSize,
		ConnectTimeout:        sc.ConnectTimeout,
		HeaderTimeout:         sc.OriginHeaderTimeout,
		IdleTimeout:           sc.OriginIdleTimeout,
		FillTimeout:           sc.FillTimeout,
		AllowPrivateRedirects: sc.AllowPrivateRedirects,
		ContentTypes:          types,
		Via:                   sc.Via,
		Logger:                log,
	}, nil
}

func runServe(ctx context.Context, a *app, cmd *cobra.Command) error {
	cfg := a.cfg
	sc := cfg.Serve
	settings, err := serveSettings(cfg, a.log)
	if err != nil {
		return asUsage(err)
	}
	fetch, err := fetchOptions(cfg, a.log)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	access := a.log
	if !sc.AccessLog {
		access = slog.New(slog.DiscardHandler)
	}
	a.log.Debug("serve", "config", cfg.File)
	ver, rev, _ := buildVersion()
	// serve.Run returns nil after a graceful drain on SIGTERM/SIGINT (exit 0).
	return serve.Run(ctx, serve.Config{
		TargetURL:   cfg.Target,
		JournalPath: scan.StateDir(cfg.StateDir).ServeJournal(),
		Fetch:       fetch,
		Server: serve.Options{
			Logger:            a.log,
			AccessLog:         access,
			Listen:            sc.Listen,
			AdminListen:       sc.AdminListen,
			Via:               sc.Via,
			ReadHeaderTimeout: sc.ReadHeaderTimeout,
			IdleTimeout:       sc.IdleTimeout,
			WriteIdleTimeout:  sc.WriteIdleTimeout,
			MaxHeaderBytes:    sc.MaxHeaderBytes,
			Grace:             sc.Grace,
			ShutdownDelay:     sc.ShutdownDelay,
			Build:             serve.BuildInfo{Version: ver, Commit: rev},
			Settings:          settings,
			Reload: func(context.Context) (serve.Settings, error) {
				ncfg, _, err := loadConfig(cmd, a.configFlag)
				if err != nil {
					return serve.Settings{}, err
				}
				return serveSettings(ncfg, a.log)
			},
			WatchFile:     cfg.File,
			WatchFiles:    []string{cfg.RulesFile},
			WatchInterval: sc.ReloadInterval,
			ReloadSignal:  hup,
		},
	})
}

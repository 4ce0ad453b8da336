package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/serve"
	"github.com/spf13/cobra"
)

// serveConfig holds the serve.* keys.
type serveConfig struct {
	Listen                string        `mapstructure:"listen"`
	AdminListen           string        `mapstructure:"admin_listen"`
	Addressing            string        `mapstructure:"addressing"`
	Bucket                string        `mapstructure:"bucket"`
	Grace                 time.Duration `mapstructure:"grace"`
	ReadHeaderTimeout     time.Duration `mapstructure:"read_header_timeout"`
	IdleTimeout           time.Duration `mapstructure:"idle_timeout"`
	WriteIdleTimeout      time.Duration `mapstructure:"write_idle_timeout"`
	MaxHeaderBytes        int           `mapstructure:"max_header_bytes"`
	MaxObjectSize         int64         `mapstructure:"max_object_size"`
	ConnectTimeout        time.Duration `mapstructure:"connect_timeout"`
	OriginHeaderTimeout   time.Duration `mapstructure:"origin_header_timeout"`
	OriginIdleTimeout     time.Duration `mapstructure:"origin_idle_timeout"`
	FillTimeout           time.Duration `mapstructure:"fill_timeout"`
	AllowPrivateRedirects bool          `mapstructure:"allow_private_redirects"`
	SpoolDir              string        `mapstructure:"spool_dir"`
	Via                   string        `mapstructure:"via"`
	AccessLog             bool          `mapstructure:"access_log"`
	ReloadInterval        time.Duration `mapstructure:"reload_interval"`
}

var serveKeys = []configKey{
	{"serve.listen", ":8080", "address the mirror listens on"},
	{"serve.admin_listen", "127.0.0.1:9091", `address of /metrics, /healthz, /readyz ("" disables it)`},
	{"serve.addressing", "domain", "domain (the path is the key) or path (/bucket/key, for S3 clients)"},
	{"serve.bucket", "", `bucket name expected in path addressing ("" accepts any)`},
	{"serve.grace", 30 * time.Second, "on SIGTERM/SIGINT, how long in-flight responses and fills may finish"},
	{"serve.read_header_timeout", 10 * time.Second, "time a client has to send the request headers"},
	{"serve.idle_timeout", 120 * time.Second, "keep-alive connections idle this long are closed"},
	{"serve.write_idle_timeout", 60 * time.Second, "a response that makes no write progress this long is aborted (idle, not total)"},
	{"serve.max_header_bytes", 64 << 10, "largest request header block accepted"},
	{"serve.max_object_size", int64(5 << 30), "fills of larger objects fail (bytes)"},
	{"serve.connect_timeout", 10 * time.Second, "origin dial timeout"},
	{"serve.origin_header_timeout", 30 * time.Second, "time the origin has to send response headers"},
	{"serve.origin_idle_timeout", 60 * time.Second, "a fill whose origin sends no byte this long fails"},
	{"serve.fill_timeout", time.Hour, "total deadline of one fill"},
	{"serve.allow_private_redirects", false, "let origin redirects reach loopback, private and link-local addresses"},
	{"serve.spool_dir", "", "directory for fill spool files (default: the system temp dir)"},
	{"serve.via", "ferry", "Via token added to origin requests; a request carrying it is refused with 508 (loop)"},
	{"serve.access_log", true, "log one line per request"},
	{"serve.reload_interval", 2 * time.Second, "how often the config file is checked for changes"},
}

// validate checks the serve.* keys.
func (s *serveConfig) validate() error {
	switch s.Addressing {
	case serve.AddressingDomain, serve.AddressingPath:
	default:
		return fmt.Errorf("serve.addressing: %q is not one of domain, path", s.Addressing)
	}
	if s.Listen == "" {
		return errors.New("serve.listen: must not be empty")
	}
	if strings.ContainsAny(s.Via, " ,\t") {
		return fmt.Errorf("serve.via: %q must be one token (no spaces or commas)", s.Via)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"serve.grace", s.Grace}, {"serve.read_header_timeout", s.ReadHeaderTimeout},
		{"serve.idle_timeout", s.IdleTimeout}, {"serve.write_idle_timeout", s.WriteIdleTimeout},
		{"serve.connect_timeout", s.ConnectTimeout}, {"serve.origin_header_timeout", s.OriginHeaderTimeout},
		{"serve.origin_idle_timeout", s.OriginIdleTimeout}, {"serve.fill_timeout", s.FillTimeout},
		{"serve.reload_interval", s.ReloadInterval},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: %v must be a positive duration such as 30s", d.name, d.v)
		}
	}
	if s.MaxHeaderBytes < 1024 {
		return fmt.Errorf("serve.max_header_bytes: %d is too small (at least 1024)", s.MaxHeaderBytes)
	}
	if s.MaxObjectSize <= 0 {
		return fmt.Errorf("serve.max_object_size: %d must be positive (bytes)", s.MaxObjectSize)
	}
	return nil
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
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), a, cmd)
		},
	}
	f := c.Flags()
	f.String("listen", ":8080", "address to listen on")
	f.String("admin-listen", "127.0.0.1:9091", `address of /metrics, /healthz and /readyz ("" disables)`)
	f.String("addressing", "domain", "domain (the path is the key) or path (/bucket/key)")
	f.String("bucket", "", "bucket name expected in path addressing")
	f.Duration("grace", 30*time.Second, "drain time on SIGTERM/SIGINT")
	bindKey(f, "listen", "serve.listen")
	bindKey(f, "admin-listen", "serve.admin_listen")
	bindKey(f, "addressing", "serve.addressing")
	bindKey(f, "bucket", "serve.bucket")
	bindKey(f, "grace", "serve.grace")
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
			Settings:          settings,
			Reload: func(context.Context) (serve.Settings, error) {
				ncfg, _, err := loadConfig(cmd, a.configFlag)
				if err != nil {
					return serve.Settings{}, err
				}
				return serveSettings(ncfg, a.log)
			},
			WatchFile:     cfg.File,
			WatchInterval: sc.ReloadInterval,
			ReloadSignal:  hup,
		},
	})
}

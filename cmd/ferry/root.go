package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// app carries what every command needs: the streams, and after the root's
// PersistentPreRunE the decoded configuration, its viper and the logger.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	configFlag string
	cpuProfile string
	cfg        *Config
	v          *viper.Viper
	log        *slog.Logger
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "ferry",
		Short: "Migrate a live origin into an S3-compatible object store with zero downtime",
		Long: `ferry moves a live origin (a web or file server, or another cloud's bucket) into an
S3-compatible object store without downtime:

  1. ferry scan      bulk-copies the cold data from the origin into the target
  2. ferry serve     lazy mirror during cutover: hits come from the target, misses
                     are fetched from the origin by back-to-origin rules and stored
  3. ferry finalize  copies what is still missing, verifies the target is complete,
                     then the rules can be removed (ferry rules clear)

Try it on one machine with nothing installed: ferry demo

Configuration precedence: flags > FERRY_* environment > config file > defaults.
The config file is --config, else ./ferry.yaml, $XDG_CONFIG_HOME/ferry/ferry.yaml,
/etc/ferry/ferry.yaml. "ferry config keys" lists every key.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.cpuProfile != "" {
				if err := startCPUProfile(a.cpuProfile); err != nil {
					return err
				}
			}
			if cmd.Annotations["noconfig"] == "true" {
				return nil
			}
			return a.load(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	// ferry --version, as cobra does it, prints what ferry version prints.
	v, c, d := buildVersion()
	root.Version = v
	root.SetVersionTemplate(versionText(v, c, d))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	pf := root.PersistentFlags()
	pf.StringVar(&a.configFlag, "config", "", "config file (default: ./ferry.yaml, $XDG_CONFIG_HOME/ferry/ferry.yaml, /etc/ferry/ferry.yaml)")
	addKeyFlags(pf, "target", "state_dir", "log_level", "log_format")
	pf.StringVar(&a.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file (go tool pprof FILE)")

	root.AddCommand(
		newVersionCmd(a),
		newConfigCmd(a),
	)
	addCommands(root, a)
	return root
}

// load decodes the configuration for cmd and sets up logging.
func (a *app) load(cmd *cobra.Command) error {
	cfg, v, err := loadConfig(cmd, a.configFlag)
	if err != nil {
		return err
	}
	a.cfg, a.v = cfg, v
	a.log = newLogger(a.stderr, cfg.LogLevel, cfg.LogFormat)
	if cfg.File != "" {
		a.log.Debug("using config file", "file", cfg.File)
	}
	return nil
}

// newLogger logs at level (checked by the log_level key; "warning" is
// "warn") in format, text or json.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.TrimSuffix(strings.ToLower(level), "ing")))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newConfigCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Show the configuration in effect and every configuration key",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	c.AddCommand(&cobra.Command{
		Use:   "keys",
		Short: "List every configuration key, its environment variable and default",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			printKeys(a.stdout)
			return nil
		},
	}, &cobra.Command{
		Use:   "show",
		Short: "Print the configuration in effect (after flags, environment and file) and which file was used",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return showConfig(a)
		},
	})
	return c
}

package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/ferry-migrate/ferry/internal/cliconf"
	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/ferry-migrate/ferry/store"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// Config is the typed configuration every command decodes once. Each key
// is declared once, in (*Config).keys and the keys methods of the sections.
type Config struct {
	File      string // the config file used, "" if none
	Target    string
	Origin    string
	StateDir  string
	MIMETypes string
	RulesFile string
	LogLevel  string
	LogFormat string
	Serve     serveConfig
	Scan      scanConfig
	Plan      planConfig
}

// keys declares every configuration key, bound to the fields of c (loading
// decodes each key's value, or its default, into its field).
func (c *Config) keys() []key {
	return slices.Concat([]key{
		{"target", "target", "where the data goes: a directory, file://, s3://bucket/prefix?endpoint=..., gs://, azblob://",
			confval.String(&c.Target, "file://./ferry-data", confval.NotEmpty, store.CheckTarget)},
		{"origin", "origin", "listable origin for scan and finalize: a directory, file://, s3://..., gs://...",
			confval.String(&c.Origin, "", store.CheckOrigin)},
		{"state_dir", "state-dir", "where journals, checkpoints and failure manifests are kept",
			confval.String(&c.StateDir, "./.ferry", confval.NotEmpty)},
		{"mime_types", "", `mime.types file (Apache or nginx format) whose types override ferry's table for files of a directory origin ("": ferry's table)`,
			confval.String(&c.MIMETypes, "")},
		{"rules_file", "", `file that holds the rules instead of the config file's rules: section, for a read-only config file (a Kubernetes ConfigMap); until it exists the config file's rules are used, and the first edit creates it ("": the config file)`,
			confval.String(&c.RulesFile, "")},
		{"log_level", "log-level", "debug, info, warn or error",
			confval.String(&c.LogLevel, "info", confval.OneOf([]string{"debug", "info", "warn", "error"}, "warning"))},
		{"log_format", "log-format", "text or json",
			confval.String(&c.LogFormat, "text", confval.OneOf([]string{"text", "json"}))},
	}, c.Serve.keys(), c.Scan.keys(), c.Plan.keys())
}

// allKeys is the key table with the defaults, for listings and docs.
func allKeys() []key {
	return (&Config{}).keys()
}

// contentTypes returns the types given to plain files of directory origins:
// ferry's table, overridden by the mime_types file when one is set.
func (c *Config) contentTypes() (*store.ContentTypes, error) {
	if c.MIMETypes == "" {
		return store.DefaultContentTypes(), nil
	}
	ct, err := store.LoadContentTypes(c.MIMETypes)
	if err != nil {
		return nil, &cliconf.Error{Key: "mime_types", Msg: err.Error()}
	}
	return ct, nil
}

// loadConfig decodes every key into a Config from flags, the FERRY_*
// environment, the config file (checked strictly; its rules: section is the
// rules package's) and defaults, in that order (internal/cliconf). Every error
// is a *cliconf.Error (exit 2) that names the file, line, variable or flag.
func loadConfig(cmd *cobra.Command, explicit string) (*Config, *viper.Viper, error) {
	c := &Config{}
	file, err := cliconf.Find(explicit)
	if err != nil {
		return nil, nil, err
	}
	v, err := cliconf.Load(cmd, file, cliKeys(c.keys()), "rules")
	if ce := (*cliconf.Error)(nil); errors.As(err, &ce) && (ce.Key == "target" || ce.Key == "origin") {
		ce.Value = store.Redact(ce.Value) // as config show prints them
	}
	if err != nil {
		return nil, nil, err
	}
	c.File = file
	return c, v, nil
}

// printKeys writes every config key with its default, for `ferry config keys`.
func printKeys(w io.Writer) {
	keys := allKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].Name < keys[j].Name })
	for _, k := range keys {
		fmt.Fprintf(w, "%-28s %-32s default %s\n    %s\n", k.Name, k.Env(), fmtDefault(k.Val.DefaultText()), k.Help)
	}
}

func fmtDefault(s string) string { return cliconf.Default(s) }

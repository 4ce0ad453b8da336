package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
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
			confval.String(&c.Target, "file://./ferry-data", confval.NotEmpty, bucketURL("target"))},
		{"origin", "origin", "listable origin for scan and finalize: a directory, file://, s3://..., gs://...",
			confval.String(&c.Origin, "", bucketURL("origin"))},
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
		return nil, &configError{msg: "mime_types: " + err.Error()}
	}
	return ct, nil
}

// findConfig returns the config file to use: the --config file (which must
// exist), else the first of ./ferry.yaml, $XDG_CONFIG_HOME/ferry/ferry.yaml,
// /etc/ferry/ferry.yaml that exists, else "".
func findConfig(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("config file %s: %w", explicit, unwrapPathError(err))
		}
		return explicit, nil
	}
	candidates := []string{"ferry.yaml"}
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		candidates = append(candidates, filepath.Join(xdg, "ferry", "ferry.yaml"))
	}
	candidates = append(candidates, "/etc/ferry/ferry.yaml")
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadConfig builds one viper for this run with the precedence
// flags > FERRY_* environment > config file > defaults, checks the file
// strictly, and decodes every key into a Config. Every error is a
// *configError (exit 2) that names the file, line, variable or flag.
func loadConfig(cmd *cobra.Command, explicit string) (*Config, *viper.Viper, error) {
	c := &Config{}
	keys := c.keys()
	v := viper.New()
	v.SetEnvPrefix("FERRY")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	for _, k := range keys {
		v.SetDefault(k.name, k.val.DefaultText())
		if err := v.BindEnv(k.name); err != nil {
			return nil, nil, &configError{msg: err.Error()}
		}
	}
	file, err := findConfig(explicit)
	if err != nil {
		return nil, nil, &configError{msg: err.Error()}
	}
	var lines map[string]int
	if file != "" {
		if lines, err = readConfigFile(v, file, keys); err != nil {
			return nil, nil, err
		}
	}
	flags := map[string]*pflag.Flag{}
	collect := func(f *pflag.Flag) {
		if k, ok := f.Annotations[keyAnnotation]; ok && f.Changed {
			flags[k[0]] = f
		}
	}
	cmd.Flags().VisitAll(collect)
	cmd.InheritedFlags().VisitAll(collect)
	for _, k := range keys {
		text, source := fmt.Sprint(v.Get(k.name)), ""
		switch f, line := flags[k.name], lines[k.name]; {
		case f != nil:
			text, source = f.Value.String(), "flag --"+f.Name
		case os.Getenv(k.env()) != "":
			source = "environment " + k.env()
		case line > 0:
			source = fmt.Sprintf("config file %s: line %d", file, line)
		}
		if err := k.val.Decode(text); err != nil {
			return nil, nil, &configError{source: source, key: k.name, value: text, msg: err.Error()}
		}
	}
	c.File = file
	return c, v, nil
}

// configError is a configuration value or file that cannot be used (exit
// 2): where it came from (a file and line, an environment variable, a flag;
// "" for a default), the key, the value and what is wrong.
type configError struct {
	source, key, value, msg string
}

func (e *configError) Error() string {
	var b strings.Builder
	if e.source != "" {
		b.WriteString(e.source + ": ")
	}
	if e.key != "" {
		b.WriteString(e.key + ": ")
		if e.value != "" {
			fmt.Fprintf(&b, "%q ", e.value)
		}
	}
	b.WriteString(e.msg)
	return b.String()
}

// readConfigFile checks the config file strictly and reads it into v. It
// returns the line of every key the file sets.
func readConfigFile(v *viper.Viper, file string, keys []key) (map[string]int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &configError{msg: fmt.Sprintf("config file %s: %v", file, unwrapPathError(err))}
	}
	lines, err := checkConfigYAML(file, data, keys)
	if err != nil {
		return nil, err
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &configError{msg: fmt.Sprintf("config file %s: %v", file, err)}
	}
	return lines, nil
}

// checkConfigYAML parses the file strictly: a YAML error, an unknown key, a
// key without a value or a mapping where a value belongs is a *configError
// with the file name and line. It returns the line of each key. The rules
// section is checked by the rules package.
func checkConfigYAML(file string, data []byte, keys []key) (map[string]int, error) {
	fail := func(line int, format string, args ...any) (map[string]int, error) {
		return nil, &configError{source: fmt.Sprintf("config file %s: line %d", file, line), msg: fmt.Sprintf(format, args...)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := rules.YAMLError(data)
		return fail(e.Line, "%s", e.Msg)
	}
	lines := map[string]int{}
	if len(doc.Content) == 0 {
		return lines, nil // empty file
	}
	known := map[string]key{}
	var names []string
	sections := map[string]bool{}
	for _, k := range keys {
		known[k.name] = k
		names = append(names, k.name)
		if i := strings.IndexByte(k.name, '.'); i > 0 {
			sections[k.name[:i]] = true
		}
	}
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		if n.Kind != yaml.MappingNode {
			_, err := fail(n.Line, "expected a mapping of keys")
			return err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			name := prefix + kn.Value
			k, isKey := known[name]
			switch {
			case name == "rules":
			case sections[name] && isNull(vn):
			case sections[name]:
				if err := walk(vn, name+"."); err != nil {
					return err
				}
			case isKey && isNull(vn):
				_, err := fail(kn.Line, "%s has no value: write %s: \"\" for an empty value, or remove the line for the default (%s)", name, kn.Value, fmtDefault(k.val.DefaultText()))
				return err
			case isKey && vn.Kind != yaml.ScalarNode:
				what := "a mapping"
				if vn.Kind == yaml.SequenceNode {
					what = "a list"
				}
				_, err := fail(vn.Line, "%s: expected a value, not %s", name, what)
				return err
			case isKey:
				lines[name] = kn.Line
			default:
				hint := ""
				if s := rules.Suggest(name, append(names, "rules")); s != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
				_, err := fail(kn.Line, "unknown key %q%s", name, hint)
				return err
			}
		}
		return nil
	}
	if root := doc.Content[0]; !isNull(root) {
		if err := walk(root, ""); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// printKeys writes every config key with its default, for `ferry config keys`.
func printKeys(w io.Writer) {
	keys := allKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].name < keys[j].name })
	for _, k := range keys {
		fmt.Fprintf(w, "%-28s %-32s default %s\n    %s\n", k.name, k.env(), fmtDefault(k.val.DefaultText()), k.help)
	}
}

func fmtDefault(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

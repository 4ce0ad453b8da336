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

	"github.com/ferry-migrate/ferry/store"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// configKey is one configuration key: its default and its help text. Every
// key can be set in the config file, as FERRY_<KEY> in the environment (with
// "." and "-" as "_"), and through the flag annotated with it.
type configKey struct {
	name string
	def  any
	help string
}

// globalKeys are the top-level keys. Commands declare their own lists next to
// their code (serveKeys, scanKeys); allKeys joins them.
var globalKeys = []configKey{
	{"target", "file://./ferry-data", "where the data goes: a directory, file://, s3://bucket/prefix?endpoint=..., gs://, azblob://"},
	{"origin", "", "listable origin for scan and finalize: a directory, file://, s3://..., gs://..."},
	{"state_dir", "./.ferry", "where journals, checkpoints and failure manifests are kept"},
	{"mime_types", "", `mime.types file (Apache or nginx format) whose types override ferry's table for files of a directory origin ("": ferry's table)`},
	{"log_level", "info", "debug, info, warn or error"},
	{"log_format", "text", "text or json"},
}

func allKeys() []configKey {
	return slices.Concat(globalKeys, serveKeys, scanKeys)
}

// keyAnnotation ties a flag to a config key.
const keyAnnotation = "ferry-config-key"

// bindKey marks flag name of fs as the flag for config key.
func bindKey(fs *pflag.FlagSet, name, key string) {
	if err := fs.SetAnnotation(name, keyAnnotation, []string{key}); err != nil {
		panic(err) // programming error: the flag does not exist
	}
}

// Config is the typed configuration every command decodes once.
type Config struct {
	File      string      `mapstructure:"-"` // the config file used, "" if none
	Target    string      `mapstructure:"target"`
	Origin    string      `mapstructure:"origin"`
	StateDir  string      `mapstructure:"state_dir"`
	MIMETypes string      `mapstructure:"mime_types"`
	LogLevel  string      `mapstructure:"log_level"`
	LogFormat string      `mapstructure:"log_format"`
	Serve     serveConfig `mapstructure:"serve"`
	Scan      scanConfig  `mapstructure:"scan"`
}

// Validate checks values that have a closed set of choices.
func (c *Config) Validate() error {
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log_format: %q is not one of text, json", c.LogFormat)
	}
	if c.Target == "" {
		return errors.New("target: must not be empty")
	}
	if c.StateDir == "" {
		return errors.New("state_dir: must not be empty")
	}
	return c.validateCommands()
}

// contentTypes returns the types given to plain files of directory origins:
// ferry's table, overridden by the mime_types file when one is set.
func (c *Config) contentTypes() (*store.ContentTypes, error) {
	if c.MIMETypes == "" {
		return store.DefaultContentTypes(), nil
	}
	ct, err := store.LoadContentTypes(c.MIMETypes)
	if err != nil {
		return nil, asUsage(fmt.Errorf("mime_types: %w", err))
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
// strictly, and decodes it into a Config.
func loadConfig(cmd *cobra.Command, explicit string) (*Config, *viper.Viper, error) {
	v := viper.New()
	keys := allKeys()
	for _, k := range keys {
		v.SetDefault(k.name, k.def)
	}
	v.SetEnvPrefix("FERRY")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	for _, k := range keys {
		if err := v.BindEnv(k.name); err != nil {
			return nil, nil, err
		}
	}
	file, err := findConfig(explicit)
	if err != nil {
		return nil, nil, err
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("config file %s: %w", file, unwrapPathError(err))
		}
		if err := checkConfigYAML(file, data, keys); err != nil {
			return nil, nil, err
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, nil, fmt.Errorf("config file %s: %w", file, err)
		}
	}
	// Flags win over everything when the user set them.
	var bindErr error
	bind := func(f *pflag.Flag) {
		if key, ok := f.Annotations[keyAnnotation]; ok && bindErr == nil {
			bindErr = v.BindPFlag(key[0], f)
		}
	}
	cmd.Flags().VisitAll(bind)
	cmd.InheritedFlags().VisitAll(bind)
	if bindErr != nil {
		return nil, nil, bindErr
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:] // mapstructure prefixes a generic multi-line header
		}
		if file != "" {
			return nil, nil, fmt.Errorf("config file %s (or environment, flags): %s", file, msg)
		}
		return nil, nil, fmt.Errorf("configuration: %s", msg)
	}
	c.File = file
	if err := c.Validate(); err != nil {
		if file != "" {
			return nil, nil, fmt.Errorf("%w (config file %s, environment or flags)", err, file)
		}
		return nil, nil, err
	}
	return &c, v, nil
}

// checkConfigYAML parses the file strictly: a YAML error or an unknown key is
// reported with the file name and line. The rules section is checked later by
// the rules package.
func checkConfigYAML(file string, data []byte, keys []configKey) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	known := map[string]bool{"rules": true}
	sections := map[string]bool{}
	for _, k := range keys {
		known[k.name] = true
		if i := strings.IndexByte(k.name, '.'); i > 0 {
			sections[k.name[:i]] = true
		}
	}
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("config file %s: line %d: expected a mapping of keys", file, n.Line)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			name := prefix + kn.Value
			switch {
			case name == "rules":
				continue
			case sections[name]:
				if vn.Kind == yaml.ScalarNode && vn.Tag == "!!null" {
					continue
				}
				if err := walk(vn, name+"."); err != nil {
					return err
				}
			case known[name]:
				if vn.Kind != yaml.ScalarNode && vn.Kind != yaml.SequenceNode {
					return fmt.Errorf("config file %s: line %d: %s: expected a value, not a mapping", file, vn.Line, name)
				}
			default:
				return fmt.Errorf("config file %s: line %d: unknown key %q%s", file, kn.Line, name, suggestKey(name, known))
			}
		}
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	return walk(root, "")
}

// suggestKey returns ` (did you mean "x"?)` for the known key closest to
// name (edit distance at most 2, or name is a suffix of it), or "".
func suggestKey(name string, known map[string]bool) string {
	best, bestD := "", 3
	for k := range known {
		d := editDistance(name, k)
		if strings.HasSuffix(k, "."+name) {
			d = 1
		}
		if d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// printKeys writes every config key with its default, for `ferry config keys`.
func printKeys(w io.Writer) {
	keys := allKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].name < keys[j].name })
	for _, k := range keys {
		env := "FERRY_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k.name))
		fmt.Fprintf(w, "%-28s %-32s default %v\n    %s\n", k.name, env, fmtDefault(k.def), k.help)
	}
}

func fmtDefault(v any) string {
	if s, ok := v.(string); ok && s == "" {
		return `""`
	}
	return fmt.Sprint(v)
}

// Package cliconf loads a command's configuration keys from flags, the
// environment and a YAML file, in that order of precedence, each key declared
// once (Key) with its flag, help, default and check. The file is checked
// strictly: a YAML error, an unknown key (with a did-you-mean), a key without
// a value or a mapping where a value belongs is an *Error naming the file and
// line, and a bad value names where it came from.
package cliconf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Key is the one declaration of a configuration key: its name in the config
// file (dotted for sections: serve.listen), from which its environment
// variable follows; the flag tied to it ("" for none: a command adds it with
// AddFlags); its help; and the typed field it decodes into, with its default
// and its check.
type Key struct {
	Name string
	Flag string
	Help string
	Val  confval.Value
}

// EnvPrefix is the prefix of every key's environment variable.
const EnvPrefix = "FERRY"

// Env is the key's environment variable: FERRY_ and the key upper-cased,
// with "." and "-" as "_".
func (k Key) Env() string {
	return EnvPrefix + "_" + strings.ToUpper(envReplacer.Replace(k.Name))
}

var envReplacer = strings.NewReplacer(".", "_", "-", "_")

// Annotation ties a flag to its config key.
const Annotation = "ferry-config-key"

// Error is a configuration value or file that cannot be used: where it came
// from (a file and line, an environment variable, a flag; "" for a default),
// the key, the value and what is wrong.
type Error struct {
	Source, Key, Value, Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
		if e.Value != "" {
			fmt.Fprintf(&b, "%q ", e.Value)
		}
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Default formats a default value for people: "" for the empty string.
func Default(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// flagValue is the flag of a config key. It only holds the text given on the
// command line; the key decodes it like a file or environment value, so a
// bad flag value is reported the same way.
type flagValue struct{ val, typ string }

func (f *flagValue) String() string     { return f.val }
func (f *flagValue) Set(s string) error { f.val = s; return nil }
func (f *flagValue) Type() string       { return f.typ }

// AddFlags defines on fs the flags of the named keys, with the help and
// default of their declaration.
func AddFlags(fs *pflag.FlagSet, keys []Key, names ...string) {
	for _, name := range names {
		i := slices.IndexFunc(keys, func(k Key) bool { return k.Name == name })
		if i < 0 || keys[i].Flag == "" {
			panic("no flag for config key " + name) // programming error
		}
		k := keys[i]
		fs.Var(&flagValue{val: k.Val.DefaultText(), typ: k.Val.Kind()}, k.Flag, k.Help)
		if k.Val.Kind() == "bool" {
			fs.Lookup(k.Flag).NoOptDefVal = "true"
		}
		if err := fs.SetAnnotation(k.Flag, Annotation, []string{k.Name}); err != nil {
			panic(err)
		}
	}
}

// Load decodes every key for cmd with the precedence flags > environment >
// file (when file is not "") > defaults, and returns the viper that holds the
// merged values. Sections other than the keys' own (named in skip, such as
// rules) are left to their own parsers.
func Load(cmd *cobra.Command, file string, keys []Key, skip ...string) (*viper.Viper, error) {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(envReplacer)
	for _, k := range keys {
		v.SetDefault(k.Name, k.Val.DefaultText())
		if err := v.BindEnv(k.Name); err != nil {
			return nil, &Error{Msg: err.Error()}
		}
	}
	var lines map[string]int
	if file != "" {
		var err error
		if lines, err = readFile(v, file, keys, skip); err != nil {
			return nil, err
		}
	}
	flags := map[string]*pflag.Flag{}
	collect := func(f *pflag.Flag) {
		if k, ok := f.Annotations[Annotation]; ok && f.Changed {
			flags[k[0]] = f
		}
	}
	cmd.Flags().VisitAll(collect)
	cmd.InheritedFlags().VisitAll(collect)
	for _, k := range keys {
		text, source := fmt.Sprint(v.Get(k.Name)), ""
		switch f, line := flags[k.Name], lines[k.Name]; {
		case f != nil:
			text, source = f.Value.String(), "flag --"+f.Name
		case os.Getenv(k.Env()) != "":
			source = "environment " + k.Env()
		case line > 0:
			source = fmt.Sprintf("config file %s: line %d", file, line)
		}
		if err := k.Val.Decode(text); err != nil {
			return nil, &Error{Source: source, Key: k.Name, Value: text, Msg: err.Error()}
		}
	}
	return v, nil
}

// PathError is err without the *fs.PathError wrapping that repeats the path.
func PathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readFile checks the config file strictly and reads it into v. It returns
// the line of every key the file sets.
func readFile(v *viper.Viper, file string, keys []Key, skip []string) (map[string]int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("config file %s: %v", file, PathError(err))}
	}
	lines, err := checkYAML(file, data, keys, skip)
	if err != nil {
		return nil, err
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("config file %s: %v", file, err)}
	}
	return lines, nil
}

// checker walks a config file's YAML against the declared keys.
type checker struct {
	file     string
	known    map[string]Key
	names    []string
	sections map[string]bool
	skip     []string
	lines    map[string]int
}

// checkYAML parses the file strictly and returns the line of each key.
func checkYAML(file string, data []byte, keys []Key, skip []string) (map[string]int, error) {
	c := &checker{file: file, known: map[string]Key{}, sections: map[string]bool{}, skip: skip, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := rules.YAMLError(data)
		return nil, c.fail(e.Line, "%s", e.Msg)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return c.lines, nil // empty file
	}
	for _, k := range keys {
		c.known[k.Name] = k
		c.names = append(c.names, k.Name)
		if i := strings.IndexByte(k.Name, '.'); i > 0 {
			c.sections[k.Name[:i]] = true
		}
	}
	c.names = append(c.names, skip...)
	if err := c.walk(doc.Content[0], ""); err != nil {
		return nil, err
	}
	return c.lines, nil
}

func (c *checker) fail(line int, format string, args ...any) error {
	return &Error{Source: fmt.Sprintf("config file %s: line %d", c.file, line), Msg: fmt.Sprintf(format, args...)}
}

func (c *checker) walk(n *yaml.Node, prefix string) error {
	if n.Kind != yaml.MappingNode {
		return c.fail(n.Line, "expected a mapping of keys")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		name := prefix + kn.Value
		k, isKey := c.known[name]
		switch {
		case slices.Contains(c.skip, name):
		case c.sections[name] && isNull(vn):
		case c.sections[name]:
			if err := c.walk(vn, name+"."); err != nil {
				return err
			}
		case isKey && isNull(vn):
			return c.fail(kn.Line, "%s has no value: write %s: \"\" for an empty value, or remove the line for the default (%s)",
				name, kn.Value, Default(k.Val.DefaultText()))
		case isKey && vn.Kind != yaml.ScalarNode:
			what := "a mapping"
			if vn.Kind == yaml.SequenceNode {
				what = "a list"
			}
			return c.fail(vn.Line, "%s: expected a value, not %s", name, what)
		case isKey:
			c.lines[name] = kn.Line
		default:
			hint := ""
			if s := rules.Suggest(name, c.names); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return c.fail(kn.Line, "unknown key %q%s", name, hint)
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

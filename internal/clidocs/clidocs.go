// Package clidocs writes the reference documentation of a cobra command tree:
// one markdown file per command, one man page per command, and a markdown
// table of configuration keys with the flags bound to them. The output is
// reproducible (no dates), so committed copies can be checked for drift.
package clidocs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// Markdown writes one markdown file per visible command into dir, removing
// stale <root>*.md files first so a deleted command does not linger. The help
// texts are escaped for markdown, so "<state_dir>" is not taken for HTML.
func Markdown(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, root.Name()+"*.md"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	root.DisableAutoGenTag = true
	return withEscapedHelp(root, false, func() error { return doc.GenMarkdownTree(root, dir) })
}

// Man writes a man page (section 1) per visible command into dir, each
// titled after its command (FERRY-SCAN(1)), with the help texts escaped for
// the markdown that cobra renders to roff.
func Man(root *cobra.Command, dir, manual string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root.DisableAutoGenTag = true
	var write func(c *cobra.Command) error
	write = func(c *cobra.Command) error {
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
				if err := write(sub); err != nil {
					return err
				}
			}
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		// A fresh header per page: cobra titles a page after its command
		// when Title is empty.
		hdr := &doc.GenManHeader{Section: "1", Source: root.Name(), Manual: manual}
		err = doc.GenMan(c, hdr, f)
		if err2 := f.Close(); err == nil {
			err = err2
		}
		return err
	}
	return withEscapedHelp(root, true, func() error { return write(root) })
}

// mdEscaper escapes what markdown would take for HTML or emphasis.
var mdEscaper = strings.NewReplacer(`\`, `\\`, "<", `\<`, ">", `\>`, "*", `\*`)

// withEscapedHelp runs fn with the Short and Long text of every command
// (and with flags, every flag's usage) escaped for markdown, and restores
// them afterwards. Examples are code blocks and stay as they are.
func withEscapedHelp(root *cobra.Command, flags bool, fn func() error) error {
	var restore []func()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		short, long := c.Short, c.Long
		c.Short, c.Long = mdEscaper.Replace(short), mdEscaper.Replace(long)
		restore = append(restore, func() { c.Short, c.Long = short, long })
		if flags {
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				usage := f.Usage
				f.Usage = mdEscaper.Replace(usage)
				restore = append(restore, func() { f.Usage = usage })
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	defer func() {
		for i := len(restore) - 1; i >= 0; i-- {
			restore[i]()
		}
	}()
	return fn()
}

// Key is one configuration key as the key table shows it.
type Key struct {
	Name, Env, Default, Help string
}

// ReplaceBetween returns doc with the text between the begin and end markers
// replaced by text.
func ReplaceBetween(doc []byte, begin, end, text string) ([]byte, error) {
	i := bytes.Index(doc, []byte(begin))
	j := bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return nil, fmt.Errorf("the markers %q and %q are missing", begin, end)
	}
	var b bytes.Buffer
	b.Write(doc[:i+len(begin)])
	b.WriteString("\n")
	b.WriteString(text)
	b.Write(doc[j:])
	return b.Bytes(), nil
}

// KeysTable renders keys as a markdown table (key, environment variable, the
// flags bound to it by the flag annotation, default and help), followed by a
// table of the flags that are not keys.
func KeysTable(root *cobra.Command, keys []Key, annotation string) string {
	flags := keyFlags(root, annotation)
	keys = slices.Clone(keys)
	sort.Slice(keys, func(i, j int) bool { return keys[i].Name < keys[j].Name })
	var b strings.Builder
	b.WriteString("| Key | Environment | Flag | Default | Meaning |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, k := range keys {
		flag := strings.Join(flags[k.Name], "<br>")
		if flag == "" {
			flag = "—"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | `%s` | %s |\n", k.Name, k.Env, flag, k.Default, mdCell(k.Help))
	}
	b.WriteString("\nFlags that are not configuration keys (per run only; no environment variable):\n\n")
	b.WriteString("| Command | Flag | Default | Meaning |\n")
	b.WriteString("| --- | --- | --- | --- |\n")
	eachFlag(root, func(c *cobra.Command, f *pflag.Flag, _ bool) {
		if _, ok := f.Annotations[annotation]; ok || f.Name == "help" || f.Hidden || (!c.IsAvailableCommand() && c != root) {
			return
		}
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | `%s` | %s |\n", c.CommandPath(), f.Name, def, mdCell(f.Usage))
	})
	return b.String()
}

// keyFlags maps each config key to the flags bound to it, as
// "`--flag` (command)" strings, walking every command of the tree.
func keyFlags(root *cobra.Command, annotation string) map[string][]string {
	out := map[string][]string{}
	eachFlag(root, func(c *cobra.Command, f *pflag.Flag, persistent bool) {
		key, ok := f.Annotations[annotation]
		if !ok {
			return
		}
		where := strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
		if c == root {
			where = "all commands"
		} else if persistent {
			where += " and below"
		}
		if s := fmt.Sprintf("`--%s` (%s)", f.Name, where); !slices.Contains(out[key[0]], s) {
			out[key[0]] = append(out[key[0]], s)
		}
	})
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// eachFlag calls fn for the persistent and the local flags of every command
// of the tree, parents first.
func eachFlag(c *cobra.Command, fn func(c *cobra.Command, f *pflag.Flag, persistent bool)) {
	c.PersistentFlags().VisitAll(func(f *pflag.Flag) { fn(c, f, true) })
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) { fn(c, f, false) })
	for _, sub := range c.Commands() {
		eachFlag(sub, fn)
	}
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

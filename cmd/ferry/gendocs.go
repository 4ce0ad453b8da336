package main

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

// Markers around the generated key table in docs/configuration.md.
const (
	keysBegin = "<!-- BEGIN GENERATED CONFIG KEYS: go run ./cmd/ferry gen-docs --keys-doc docs/configuration.md -->"
	keysEnd   = "<!-- END GENERATED CONFIG KEYS -->"
)

// regenerateHint is what the docs tests print when the committed docs drift.
const regenerateHint = "go run ./cmd/ferry gen-docs --keys-doc docs/configuration.md docs/cli"

// newGenDocsCmd is the hidden command that writes the CLI reference, the man
// pages and the configuration key table from the cobra tree, so the docs
// cannot drift from the code (docs_test.go checks the committed copies).
func newGenDocsCmd(a *app) *cobra.Command {
	var manDir, keysDoc string
	c := &cobra.Command{
		Use:   "gen-docs [DIR]",
		Short: "Write the markdown CLI reference to DIR, man pages to --man, the key table to --keys-doc",
		Long: `Write the markdown CLI reference (one file per command) to DIR, man pages (section 1)
to the --man directory, and the configuration key table into the --keys-doc file
(between its generated-table markers). Used for docs/cli, docs/configuration.md
and release archives:

  go run ./cmd/ferry gen-docs --keys-doc docs/configuration.md docs/cli
  go run ./cmd/ferry gen-docs --man manpages

` + exitCodesHelp,
		Hidden:      true,
		Args:        usageArgs(cobra.MaximumNArgs(1)),
		Annotations: map[string]string{"noconfig": "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && manDir == "" && keysDoc == "" {
				return usagef("gen-docs: give DIR, --man DIR or --keys-doc FILE")
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true // no dates: the output must be reproducible
			if len(args) == 1 {
				if err := genMarkdown(root, args[0]); err != nil {
					return err
				}
			}
			if manDir != "" {
				if err := genMan(root, manDir); err != nil {
					return err
				}
			}
			if keysDoc != "" {
				if err := updateKeysDoc(root, keysDoc); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&manDir, "man", "", "also write man pages (section 1) to this directory")
	c.Flags().StringVar(&keysDoc, "keys-doc", "", "rewrite the generated configuration key table in this markdown file")
	return c
}

// genMarkdown writes one markdown file per visible command into dir, removing
// stale ferry*.md files first so a deleted command does not linger. The help
// texts are escaped for markdown, so "<state_dir>" is not taken for HTML.
func genMarkdown(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen-docs: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "ferry*.md"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("gen-docs: %w", err)
		}
	}
	err = withEscapedHelp(root, false, func() error { return doc.GenMarkdownTree(root, dir) })
	if err != nil {
		return fmt.Errorf("gen-docs: markdown: %w", err)
	}
	return nil
}

// genMan writes a man page (section 1) per visible command into dir, each
// titled after its command (FERRY-SCAN(1)), with the help texts escaped for
// the markdown that cobra renders to roff.
func genMan(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen-docs: %w", err)
	}
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
		hdr := &doc.GenManHeader{Section: "1", Source: "ferry", Manual: "ferry manual"}
		err = doc.GenMan(c, hdr, f)
		if err2 := f.Close(); err == nil {
			err = err2
		}
		return err
	}
	if err := withEscapedHelp(root, true, func() error { return write(root) }); err != nil {
		return fmt.Errorf("gen-docs: man pages: %w", err)
	}
	return nil
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
			visit := func(f *pflag.Flag) {
				usage := f.Usage
				f.Usage = mdEscaper.Replace(usage)
				restore = append(restore, func() { f.Usage = usage })
			}
			c.LocalFlags().VisitAll(visit)
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

// updateKeysDoc replaces the text between keysBegin and keysEnd in file with
// the current key table.
func updateKeysDoc(root *cobra.Command, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("gen-docs: %w", err)
	}
	out, err := replaceKeysTable(data, keysTable(root))
	if err != nil {
		return fmt.Errorf("gen-docs: %s: %w", file, err)
	}
	return os.WriteFile(file, out, 0o644)
}

// replaceKeysTable returns doc with the generated block replaced by table.
func replaceKeysTable(doc []byte, table string) ([]byte, error) {
	i := bytes.Index(doc, []byte(keysBegin))
	j := bytes.Index(doc, []byte(keysEnd))
	if i < 0 || j < i {
		return nil, fmt.Errorf("the markers %q and %q are missing", keysBegin, keysEnd)
	}
	var b bytes.Buffer
	b.Write(doc[:i+len(keysBegin)])
	b.WriteString("\n")
	b.WriteString(table)
	b.Write(doc[j:])
	return b.Bytes(), nil
}

// keysTable renders every config key as a markdown table: key, environment
// variable, the flags bound to it, default and help.
func keysTable(root *cobra.Command) string {
	flags := keyFlags(root)
	keys := allKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].name < keys[j].name })
	var b strings.Builder
	b.WriteString("| Key | Environment | Flag | Default | Meaning |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, k := range keys {
		flag := strings.Join(flags[k.name], "<br>")
		if flag == "" {
			flag = "—"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | `%s` | %s |\n",
			k.name, k.env(), flag, fmtDefault(k.val.DefaultText()), mdCell(k.help))
	}
	b.WriteString("\nFlags that are not configuration keys (per run only; no environment variable):\n\n")
	b.WriteString("| Command | Flag | Default | Meaning |\n")
	b.WriteString("| --- | --- | --- | --- |\n")
	eachFlag(root, func(c *cobra.Command, f *pflag.Flag, _ bool) {
		if _, ok := f.Annotations[keyAnnotation]; ok || f.Name == "help" || f.Hidden || (!c.IsAvailableCommand() && c != root) {
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
func keyFlags(root *cobra.Command) map[string][]string {
	out := map[string][]string{}
	eachFlag(root, func(c *cobra.Command, f *pflag.Flag, persistent bool) {
		key, ok := f.Annotations[keyAnnotation]
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

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type (
	cobraCommand = cobra.Command
	pflagFlag    = pflag.Flag
)

// genDocs runs `ferry gen-docs args...` the way a user does, so the tree it
// documents includes what cobra adds at Execute time (completion).
func runGenDocs(t *testing.T, args ...string) {
	t.Helper()
	var stderr bytes.Buffer
	if code := run(append([]string{"gen-docs"}, args...), strings.NewReader(""), io.Discard, &stderr); code != 0 {
		t.Fatalf("ferry gen-docs %v: exit %d: %s", args, code, stderr.String())
	}
}

func docsMarkdownFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(n)] = data
	}
	return out
}

// TestCLIReferenceUpToDate fails when docs/cli differs from what the commands
// generate: a flag, command or help text changed without regenerating.
func TestCLIReferenceUpToDate(t *testing.T) {
	tmp := t.TempDir()
	runGenDocs(t, tmp)
	want := docsMarkdownFiles(t, tmp)
	got := docsMarkdownFiles(t, filepath.Join("..", "..", "docs", "cli"))
	delete(got, "README.md") // not generated
	if len(want) == 0 {
		t.Fatal("gen-docs wrote no markdown")
	}
	var drift []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			drift = append(drift, "missing docs/cli/"+name)
		case !bytes.Equal(g, w):
			drift = append(drift, "outdated docs/cli/"+name+docsFirstDiff(g, w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			drift = append(drift, "stale docs/cli/"+name+" (no such command any more)")
		}
	}
	if len(drift) > 0 {
		slices.Sort(drift)
		t.Errorf("the CLI reference in docs/cli does not match the commands:\n  %s\n\nRegenerate it from the repository root and commit the result:\n\n  %s\n",
			strings.Join(drift, "\n  "), regenerateHint)
	}
}

// docsFirstDiff describes the first differing line of got (committed) and want
// (generated).
func docsFirstDiff(got, want []byte) string {
	g := strings.Split(string(got), "\n")
	w := strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "\n      line " + strconv.Itoa(i+1) + ": committed " + docsQuote(gl) + "\n      line " + strconv.Itoa(i+1) + ": generated " + docsQuote(wl)
		}
	}
	return ""
}

func docsQuote(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return `"` + s + `"`
}

// TestConfigKeysDocumented fails when a key from allKeys() is missing from
// docs/configuration.md or the generated key table there is out of date.
func TestConfigKeysDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	var missing []string
	for _, k := range allKeys() {
		if !strings.Contains(doc, "`"+k.Name+"`") || !strings.Contains(doc, "`"+k.Env()+"`") {
			missing = append(missing, k.Name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("docs/configuration.md does not document these config keys (or their FERRY_ variables): %s\n\nRegenerate the key table from the repository root, describe the keys, and commit:\n\n  %s\n",
			strings.Join(missing, ", "), regenerateHint)
	}
	tmp := filepath.Join(t.TempDir(), "configuration.md")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	runGenDocs(t, "--keys-doc", tmp)
	regen, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(regen, data) {
		t.Errorf("the generated key table in docs/configuration.md is out of date (a key, default, flag or help text changed)%s\n\nRegenerate it from the repository root and commit:\n\n  %s\n",
			docsFirstDiff(data, regen), regenerateHint)
	}
}

// TestGenDocsManAndUsage checks the man pages a release archive ships and
// that gen-docs without anything to do is a usage error.
func TestGenDocsManAndUsage(t *testing.T) {
	tmp := t.TempDir()
	runGenDocs(t, "--man", tmp)
	for _, name := range []string{"ferry.1", "ferry-scan.1", "ferry-serve.1"} {
		data, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(".TH ")) {
			t.Errorf("%s: no .TH header:\n%s", name, data)
		}
	}
	// Each page is titled after its command, and text such as <state_dir>
	// and *.jsonl survives the markdown that cobra renders to roff.
	for name, want := range map[string][]string{
		"ferry.1":          {`.TH "FERRY" "1"`},
		"ferry-scan.1":     {`.TH "FERRY-SCAN" "1"`, "<state_dir>/scan/"},
		"ferry-finalize.1": {`.TH "FERRY-FINALIZE" "1"`, `<state_dir>/serve-journal-*\&.jsonl`},
	} {
		data, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !bytes.Contains(data, []byte(w)) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
	md := docsMarkdownFiles(t, filepath.Join("..", "..", "docs", "cli"))
	if !bytes.Contains(md["ferry_scan.md"], []byte(`\<state_dir\>/scan/`)) {
		t.Error("docs/cli/ferry_scan.md does not escape <state_dir> for markdown")
	}
	if _, err := os.Stat(filepath.Join(tmp, "ferry-gen-docs.1")); err == nil {
		t.Error("the hidden gen-docs command got a man page")
	}
	var stderr bytes.Buffer
	if code := run([]string{"gen-docs"}, strings.NewReader(""), io.Discard, &stderr); code != exitUsage {
		t.Errorf("gen-docs without arguments: exit %d, want %d (%s)", code, exitUsage, stderr.String())
	}
}

// docsWithExamples are the hand-written docs whose `ferry ...` examples are
// checked against the command tree.
var docsWithExamples = []string{
	"README.md", "docs/README.md", "docs/rules.md", "docs/serve.md", "docs/scan.md", "docs/runbook.md", "docs/configuration.md", "docs/operations.md",
	"docs/security.md", "docs/architecture.md", "docs/plan.md",
}

// TestDocExamplesMatchCommands checks every `ferry ...` command line in the
// docs (code blocks and inline code): the subcommands exist and every flag is
// defined on that command. A documented top-level command that does not exist
// at all yet is only logged, so docs can be written ahead of the code.
func TestDocExamplesMatchCommands(t *testing.T) {
	root := newRootCmd(strings.NewReader(""), io.Discard, io.Discard)
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	for _, doc := range docsWithExamples {
		data, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		inCode := false
		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inCode = !inCode
				continue
			}
			for _, ex := range docExamples(line, inCode || strings.HasPrefix(line, "    ")) {
				if msg := checkExample(root, ex); msg != "" {
					if strings.HasPrefix(msg, "pending: ") {
						t.Logf("%s:%d: %s", doc, i+1, msg)
						continue
					}
					t.Errorf("%s:%d: %q: %s (fix the doc or the command)", doc, i+1, ex, msg)
				}
			}
		}
	}
}

// docExamples returns the ferry command lines on one markdown line: inline
// code spans and, in code blocks, lines that start with "ferry ".
func docExamples(line string, code bool) []string {
	var out []string
	trimmed := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "$ "))
	if code && strings.HasPrefix(trimmed, "ferry ") {
		out = append(out, trimmed)
	}
	parts := strings.Split(line, "`")
	for i := 1; i < len(parts) && !code; i += 2 {
		if strings.HasPrefix(parts[i], "ferry ") {
			out = append(out, parts[i])
		}
	}
	for i, ex := range out {
		for _, stop := range []string{" #", " |", " >", " &", ";", " 2>"} {
			if j := strings.Index(ex, stop); j >= 0 {
				ex = ex[:j]
			}
		}
		out[i] = strings.TrimSpace(ex)
	}
	return out
}

// checkExample returns "" when ex names existing commands and flags.
func checkExample(root *cobraCommand, ex string) string {
	tokens := strings.Fields(ex)[1:]
	cmd := root
	depth := 0
	for len(tokens) > 0 && !strings.HasPrefix(tokens[0], "-") {
		tok := tokens[0]
		if tok == "..." {
			return "" // "ferry rules ...": any subcommand
		}
		if !cmd.HasSubCommands() {
			break
		}
		var next *cobraCommand
		for _, c := range cmd.Commands() {
			if c.Name() == tok || slices.Contains(c.Aliases, tok) {
				next = c
			}
		}
		if next == nil && strings.Contains(tok, "|") {
			for _, alt := range strings.Split(tok, "|") {
				found := false
				for _, c := range cmd.Commands() {
					found = found || c.Name() == alt
				}
				if !found {
					return "no command " + quoteCmd(cmd, alt)
				}
			}
			return ""
		}
		if next == nil {
			if depth == 0 {
				return "pending: no command " + quoteCmd(cmd, tok) + " yet"
			}
			if cmd.Runnable() && cmd.ValidateArgs([]string{tok}) == nil {
				break // an argument
			}
			return "no command " + quoteCmd(cmd, tok)
		}
		if strings.Contains(next.Short, "not implemented") {
			return "pending: " + next.CommandPath() + " is not implemented yet"
		}
		cmd = next
		depth++
		tokens = tokens[1:]
	}
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		if tok == "--" {
			break
		}
		if !strings.HasPrefix(tok, "-") || tok == "-" {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(tok, "-"), "=")
		var f *pflagFlag
		if strings.HasPrefix(tok, "--") {
			f = cmd.Flags().Lookup(name)
			if f == nil {
				f = cmd.InheritedFlags().Lookup(name)
			}
		} else {
			f = cmd.Flags().ShorthandLookup(name[:1])
			if f == nil {
				f = cmd.InheritedFlags().ShorthandLookup(name[:1])
			}
		}
		if f == nil {
			return cmd.CommandPath() + " has no flag " + tok
		}
		if !hasValue && f.Value.Type() != "bool" && f.NoOptDefVal == "" {
			i++ // its value
		}
	}
	return ""
}

func quoteCmd(parent *cobraCommand, name string) string {
	return `"` + parent.CommandPath() + " " + name + `"`
}

func TestCheckExample(t *testing.T) {
	root := newRootCmd(strings.NewReader(""), io.Discard, io.Discard)
	root.InitDefaultCompletionCmd()
	for ex, wantOK := range map[string]bool{
		"ferry config show --config /etc/ferry/ferry.yaml": true,
		"ferry config show --log-level=debug":              true,
		"ferry completion bash --no-descriptions":          true,
		"ferry version":             true,
		"ferry config show --bogus": false,
		"ferry config nope":         false,
		"ferry config keys|show":    true,
		"ferry config keys|nope":    false,
	} {
		if msg := checkExample(root, ex); (msg == "") != wantOK {
			t.Errorf("checkExample(%q) = %q, want ok=%v", ex, msg, wantOK)
		}
	}
}

// TestShippedConfigsLoad runs `ferry config show` on the configuration files
// the packages and the Kubernetes example ship, so they never hold a key the
// strict loader refuses.
func TestShippedConfigsLoad(t *testing.T) {
	files := map[string]string{}
	for _, f := range []string{"packaging/ferry.yaml", "deploy/kubernetes/ferry.yaml"} {
		files[f] = filepath.Join("..", "..", f)
	}
	// The ferry.yaml examples of the docs, each a complete file on its own.
	tmp := t.TempDir()
	for _, doc := range []string{"docs/runbook.md", "docs/configuration.md"} {
		data, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		for i, block := range strings.Split(string(data), "```yaml\n")[1:] {
			block, _, _ = strings.Cut(block, "```")
			name := fmt.Sprintf("%s yaml block %d", doc, i+1)
			path := filepath.Join(tmp, fmt.Sprintf("%d-%d.yaml", len(files), i))
			if err := os.WriteFile(path, []byte(block), 0o644); err != nil {
				t.Fatal(err)
			}
			files[name] = path
		}
	}
	for name, path := range files {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"config", "show", "--config", path}, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Errorf("%s: ferry config show: exit %d: %s", name, code, stderr.String())
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		set, err := rules.ParseConfig(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: rules: %v", name, err)
		} else if len(set.Warnings) > 0 {
			t.Errorf("%s: rules warnings: %v", name, set.Warnings)
		}
	}
}

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
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
		if !strings.Contains(doc, "`"+k.name+"`") || !strings.Contains(doc, "`"+keyEnvName(k.name)+"`") {
			missing = append(missing, k.name)
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
	if _, err := os.Stat(filepath.Join(tmp, "ferry-gen-docs.1")); err == nil {
		t.Error("the hidden gen-docs command got a man page")
	}
	var stderr bytes.Buffer
	if code := run([]string{"gen-docs"}, strings.NewReader(""), io.Discard, &stderr); code != exitUsage {
		t.Errorf("gen-docs without arguments: exit %d, want %d (%s)", code, exitUsage, stderr.String())
	}
}

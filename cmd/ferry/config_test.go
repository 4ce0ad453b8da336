package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ferry runs one in-process invocation in dir and returns its exit code and output.
func ferryIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func isolate(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "FERRY_") {
			t.Setenv(strings.SplitN(e, "=", 2)[0], "")
			os.Unsetenv(strings.SplitN(e, "=", 2)[0])
		}
	}
	return dir
}

func TestConfigPrecedence(t *testing.T) {
	dir := isolate(t)
	writeFile(t, filepath.Join(dir, "ferry.yaml"), "# my config\ntarget: file:///from-file\nserve:\n  listen: \":9000\"\n")

	code, out, errOut := ferryIn(t, dir, "config", "show")
	if code != 0 || !strings.Contains(out, "target: file:///from-file") || !strings.Contains(out, "serve.listen: :9000") {
		t.Fatalf("file not used: code %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "# config file: ferry.yaml") {
		t.Errorf("does not say which file was used:\n%s", out)
	}

	t.Setenv("FERRY_TARGET", "file:///from-env")
	t.Setenv("FERRY_SERVE_LISTEN", ":9100")
	_, out, _ = ferryIn(t, dir, "config", "show")
	if !strings.Contains(out, "target: file:///from-env") || !strings.Contains(out, "serve.listen: :9100") {
		t.Fatalf("environment does not override the file:\n%s", out)
	}

	_, out, _ = ferryIn(t, dir, "config", "show", "--target", "file:///from-flag")
	if !strings.Contains(out, "target: file:///from-flag") {
		t.Fatalf("flag does not override the environment:\n%s", out)
	}
}

func TestConfigDiscovery(t *testing.T) {
	dir := isolate(t)
	writeFile(t, filepath.Join(dir, "xdg", "ferry", "ferry.yaml"), "target: file:///from-xdg\n")
	_, out, _ := ferryIn(t, dir, "config", "show")
	if !strings.Contains(out, "target: file:///from-xdg") {
		t.Fatalf("XDG config not found:\n%s", out)
	}
	writeFile(t, filepath.Join(dir, "ferry.yaml"), "target: file:///from-cwd\n")
	_, out, _ = ferryIn(t, dir, "config", "show")
	if !strings.Contains(out, "target: file:///from-cwd") {
		t.Fatalf("./ferry.yaml does not win over XDG:\n%s", out)
	}
	code, _, errOut := ferryIn(t, dir, "config", "show", "--config", "missing.yaml")
	if code != exitUsage || !strings.Contains(errOut, "missing.yaml") {
		t.Fatalf("missing --config file: code %d, %s", code, errOut)
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	cases := []struct {
		name, content string
		want          []string
	}{
		{"yaml error", "target: file:///x\nserve:\n  listen: [unclosed\n", []string{"bad.yaml", "line"}},
		{"unknown key", "target: file:///x\ntargte: y\n", []string{"bad.yaml", "line 2", `unknown key "targte"`}},
		{"unknown nested key", "serve:\n  listen: \":1\"\n  lisen: \":2\"\n", []string{"bad.yaml", "line 3", `"serve.lisen"`, `did you mean "serve.listen"?`}},
		{"misplaced key", "listen: \":1\"\n", []string{"bad.yaml", "line 1", `did you mean "serve.listen"?`}},
		{"bad value", "log_format: xml\n", []string{"log_format", "xml"}},
		{"bad type", "scan:\n  transfers: many\n", []string{"bad.yaml", "transfers"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := isolate(t)
			writeFile(t, filepath.Join(dir, "bad.yaml"), c.content)
			code, _, errOut := ferryIn(t, dir, "config", "show", "--config", "bad.yaml")
			if code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr: %s", code, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not contain %q", errOut, w)
				}
			}
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := isolate(t)
	for _, args := range [][]string{{"--no-such-flag"}, {"version", "extra"}, {"nosuchcommand"}} {
		code, _, errOut := ferryIn(t, dir, args...)
		if code != exitUsage {
			t.Errorf("ferry %v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	dir := isolate(t)
	code, out, _ := ferryIn(t, dir, "version")
	if code != 0 || !strings.HasPrefix(out, "ferry ") || !strings.Contains(out, "commit ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

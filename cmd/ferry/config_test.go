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

// TestConfigValueErrors: every configuration error exits 2 and names the
// key, where the value came from (file and line, environment variable or
// flag) and the value; sizes take units.
func TestConfigValueErrors(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string // name=value
		args       []string
		want       []string
	}{
		{"empty target in the file", "log_level: info\ntarget:\n", nil, []string{"config", "show"},
			[]string{"ferry.yaml: line 2: target has no value"}},
		{"empty target flag", "", nil, []string{"config", "show", "--target", ""}, []string{"flag --target: target: must not be empty"}},
		{"duration from the file", "serve:\n  listen: \":1\"\n  grace: abc\n", nil, []string{"config", "show"},
			[]string{`config file ferry.yaml: line 3: serve.grace: "abc" is not a duration`}},
		{"size with a bad unit", "serve:\n  max_object_size: 5XB\n", nil, []string{"config", "show"},
			[]string{`config file ferry.yaml: line 2: serve.max_object_size: "5XB" is not a size`}},
		{"duration from the environment", "", []string{"FERRY_SERVE_GRACE=abc"}, []string{"config", "show"},
			[]string{`environment FERRY_SERVE_GRACE: serve.grace: "abc" is not a duration`}},
		{"duration from a flag", "", nil, []string{"serve", "--grace", "abc"}, []string{`flag --grace: serve.grace: "abc" is not a duration`}},
		{"negative retries", "", nil, []string{"scan", "--origin", ".", "--retries", "-1"}, []string{`flag --retries: scan.retries: "-1" must be at least 0`}},
		{"negative max-rps", "", nil, []string{"scan", "--origin", ".", "--max-rps", "-5"}, []string{`flag --max-rps: scan.max_rps: "-5" must be at least 0`}},
		{"mistyped origin scheme", "", nil, []string{"scan", "--origin", "htp://x/"}, []string{`flag --origin: origin: "htp://x/" has an unsupported scheme "htp"`}},
		{"web server origin", "", nil, []string{"scan", "--origin", "http://x/"}, []string{"cannot be listed", "--keys"}},
		{"mistyped endpoint scheme", "", nil, []string{"scan", "--origin", "s3://old?endpoint=htp://10.0.0.6:9000"},
			[]string{`flag --origin: origin: "s3://old?endpoint=htp://10.0.0.6:9000" has endpoint=htp://10.0.0.6:9000, which is not an http(s) address`}},
		{"listen address", "", nil, []string{"serve", "--listen", "nonsense"}, []string{`flag --listen: serve.listen: "nonsense" is not host:port`}},
		{"yaml syntax error line", "target: file:///x\nserve:\n  listen: [unclosed\n", nil, []string{"config", "show"},
			[]string{"config file ferry.yaml: line 3: invalid YAML"}},
		{"yaml key indented wrong", "target: file:///x\nserve:\n  listen: \":1\"\n grace: 1s\n", nil, []string{"config", "show"},
			[]string{"config file ferry.yaml: line 4: invalid YAML: did not find expected key (in the mapping or list that starts on line 1)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := isolate(t)
			if c.file != "" {
				writeFile(t, filepath.Join(dir, "ferry.yaml"), c.file)
			}
			for _, e := range c.env {
				k, v, _ := strings.Cut(e, "=")
				t.Setenv(k, v)
			}
			code, out, errOut := ferryIn(t, dir, c.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not contain %q", errOut, w)
				}
			}
		})
	}
}

// TestSizesTakeUnits: sizes are written with units in the file, the
// environment and flags, and config show prints them the same way.
func TestSizesTakeUnits(t *testing.T) {
	dir := isolate(t)
	writeFile(t, filepath.Join(dir, "ferry.yaml"), "serve:\n  max_object_size: 5GiB\n  max_header_bytes: 64K\n")
	t.Setenv("FERRY_SCAN_BWLIMIT", "50M")
	code, out, errOut := ferryIn(t, dir, "config", "show")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"serve.max_object_size: 5GiB\n", "serve.max_header_bytes: 64KiB\n", "scan.bwlimit: 50M\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
}

// TestMistypedCommandSuggests: a mistyped command is a usage error with
// the closest command, as for config keys.
func TestMistypedCommandSuggests(t *testing.T) {
	dir := isolate(t)
	for args, want := range map[string]string{
		"scna":       `unknown command "scna" for "ferry" (did you mean "scan"?)`,
		"rules lst":  `unknown command "lst" for "ferry rules" (did you mean "list"?)`,
		"config sho": `unknown command "sho" for "ferry config" (did you mean "show"?)`,
		"rules lsit": `unknown command "lsit" for "ferry rules" (did you mean "list"?)`,
	} {
		code, _, errOut := ferryIn(t, dir, strings.Fields(args)...)
		if code != exitUsage || !strings.Contains(errOut, want) {
			t.Errorf("ferry %s: exit %d, %q; want 2 and %q", args, code, errOut, want)
		}
	}
	code, out, _ := ferryIn(t, dir, "--version")
	if code != 0 || !strings.HasPrefix(out, "ferry ") || !strings.Contains(out, "commit ") {
		t.Errorf("ferry --version: %d %q", code, out)
	}
}

// TestConfigShowRedacts: config show prints no user:password of an endpoint
// and no access key id.
func TestConfigShowRedacts(t *testing.T) {
	dir := isolate(t)
	t.Setenv("FERRY_TARGET", "s3://new?endpoint=http://admin:hunter2@10.0.0.5:9000&access_key_id=AKIAXYZ")
	t.Setenv("FERRY_ORIGIN", "s3://old:oldpass@old-bucket?endpoint=http://10.0.0.6")
	code, out, errOut := ferryIn(t, dir, "config", "show")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, leak := range []string{"hunter2", "AKIAXYZ", "oldpass"} {
		if strings.Contains(out, leak) {
			t.Errorf("config show leaks %q:\n%s", leak, out)
		}
	}
}

// TestConfigErrorsRedact: a configuration error names the value of a target
// or origin without its credentials, as config show prints it.
func TestConfigErrorsRedact(t *testing.T) {
	dir := isolate(t)
	for _, args := range [][]string{
		{"config", "show", "--target", "s4://new?access_key_id=AKIAXYZ&secret_access_key=hunter2"},
		{"scan", "--origin", "s3://old?endpoint=htp://admin:hunter2@10.0.0.6"},
		{"scan", "--origin", "htp://admin:hunter2@old.example.com/"},
	} {
		code, _, errOut := ferryIn(t, dir, args...)
		if code != exitUsage || !strings.Contains(errOut, "REDACTED") || strings.Contains(errOut, "hunter2") || strings.Contains(errOut, "AKIAXYZ") {
			t.Errorf("ferry %v: exit %d, %q; want 2 and the value without its credentials", args, code, errOut)
		}
	}
}

func TestNewLoggerLevels(t *testing.T) {
	for level, want := range map[string]string{"debug": "DEBUG", "info": "INFO", "warn": "WARN", "warning": "WARN", "ERROR": "ERROR"} {
		var b bytes.Buffer
		l := newLogger(&b, level, "text")
		l.Debug("d")
		l.Info("i")
		l.Warn("w")
		l.Error("e")
		if first, _, _ := strings.Cut(b.String(), "\n"); !strings.Contains(first, "level="+want) {
			t.Errorf("log_level %s: first line %q, want level=%s", level, first, want)
		}
	}
}

package cliconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/spf13/cobra"
)

func testKeys(name *string, n *int) []Key {
	return []Key{
		{"name", "name", "a name", confval.String(name, "def")},
		{"sec.count", "count", "a count", confval.Int(n, 1, 0)},
	}
}

func load(t *testing.T, yaml string, args ...string) (string, int, error) {
	t.Helper()
	file := ""
	if yaml != "" {
		file = filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var name string
	var n int
	keys := testKeys(&name, &n)
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	AddFlags(cmd.Flags(), keys, "name", "sec.count")
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	_, err := Load(cmd, file, keys, "rules")
	return name, n, err
}

func TestLoadPrecedence(t *testing.T) {
	if name, n, err := load(t, ""); err != nil || name != "def" || n != 1 {
		t.Fatalf("defaults: %q %d %v", name, n, err)
	}
	yaml := "name: file\nsec:\n  count: 3\nrules:\n  - anything: goes\n"
	if name, n, err := load(t, yaml); err != nil || name != "file" || n != 3 {
		t.Fatalf("file: %q %d %v", name, n, err)
	}
	t.Setenv("FERRY_SEC_COUNT", "4")
	if name, n, err := load(t, yaml); err != nil || name != "file" || n != 4 {
		t.Fatalf("environment over file: %q %d %v", name, n, err)
	}
	if name, n, err := load(t, yaml, "--count", "5", "--name", "flag"); err != nil || name != "flag" || n != 5 {
		t.Fatalf("flag over environment: %q %d %v", name, n, err)
	}
}

func TestLoadErrorsNameWhere(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"name: a\nsec:\n  cuont: 2\n", `line 3: unknown key "sec.cuont" (did you mean "sec.count"?)`},
		{"name:\n", "line 1: name has no value"},
		{"name: [a]\n", "line 1: name: expected a value, not a list"},
		{"sec:\n  count: -1\n", `line 2: sec.count: "-1" must be at least 0`},
		{"name: a\n  b: [\n", "line 2"},
	} {
		_, _, err := load(t, c.yaml)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an *Error containing %q", c.yaml, err, c.want)
		}
	}
	t.Setenv("FERRY_SEC_COUNT", "x")
	if _, _, err := load(t, ""); err == nil || !strings.Contains(err.Error(), "environment FERRY_SEC_COUNT: sec.count: \"x\"") {
		t.Errorf("bad environment value: %v", err)
	}
}

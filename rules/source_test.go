package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func names(rs []Rule) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Name)
	}
	return strings.Join(s, ",")
}

func TestListOperations(t *testing.T) {
	rs := []Rule{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	if got := names(Move(rs, 0, 2)); got != "b,c,a" {
		t.Errorf("Move(0,2) = %s", got)
	}
	if got := names(Move(rs, 2, 0)); got != "c,a,b" {
		t.Errorf("Move(2,0) = %s", got)
	}
	if got := names(Remove(rs, 1)); got != "a,c" {
		t.Errorf("Remove(1) = %s", got)
	}
	if names(rs) != "a,b,c" {
		t.Fatalf("the operations changed their input: %s", names(rs))
	}
	out, err := Insert(rs, Rule{Name: "x"}, 1)
	if err != nil || names(out) != "a,x,b,c" {
		t.Errorf("Insert = %s, %v", names(out), err)
	}
	if _, err := Insert(rs, Rule{}, 4); err == nil || !strings.Contains(err.Error(), "from 1 to 4") {
		t.Errorf("Insert past the end: %v", err)
	}
	full := make([]Rule, MaxRules)
	if _, err := Insert(full, Rule{}, 0); err == nil || !strings.Contains(err.Error(), "at most 5") {
		t.Errorf("a 6th rule: %v", err)
	}
	for arg, want := range map[string]string{"x": "not a number", "0": "does not exist", "4": "there are 3 rules (1-3)"} {
		if _, err := Index(arg, 3); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Index(%q) = %v, want %q", arg, err, want)
		}
	}
	if _, err := Index("1", 0); err == nil || !strings.Contains(err.Error(), "no rules") {
		t.Errorf("Index with no rules: %v", err)
	}
	r := Rule{Headers: Headers{Pass: []string{"A"}}, PassStatus: []int{403}}
	c := r.Clone()
	c.Headers.Pass[0], c.PassStatus[0] = "B", 410
	if r.Headers.Pass[0] != "A" || r.PassStatus[0] != 403 {
		t.Fatal("Clone shares its lists with the original")
	}
}

// With rules_file set, edits and clears go there and never to the config
// file; until it exists the config file's rules are in effect.
func TestSourceRulesFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(cfg, []byte("target: ./t\nrules:\n  - origin: http://a.example/\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	src := Source{ConfigFile: cfg, RulesFile: filepath.Join(dir, "state", "rules.yaml")}
	if err := os.MkdirAll(filepath.Dir(src.RulesFile), 0o755); err != nil {
		t.Fatal(err)
	}
	set, err := src.Load()
	if err != nil || len(set.Rules) != 1 {
		t.Fatalf("load before rules_file exists: %+v %v", set, err)
	}
	if err := src.CheckClearable(); err != nil {
		t.Fatalf("clearable through rules_file: %v", err)
	}
	if _, err := src.Edit(func(rs []Rule) ([]Rule, error) { return Insert(rs, Rule{Origin: "http://b.example/"}, len(rs)) }); err != nil {
		t.Fatal(err)
	}
	set, err = src.Load()
	if err != nil || len(set.Rules) != 2 || len(set.Warnings) != 1 {
		t.Fatalf("after edit: %+v %v", set, err)
	}
	done, _, err := src.Clear(dir)
	if err != nil || !strings.Contains(done, "removed 2 rules") {
		t.Fatalf("clear: %q %v", done, err)
	}
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "a.example") {
		t.Fatal("the config file was rewritten")
	}
	ro := Source{ConfigFile: cfg}
	if os.Geteuid() != 0 { // root writes read-only files
		if err := ro.CheckClearable(); err == nil || !strings.Contains(err.Error(), "rules_file") {
			t.Fatalf("read-only config without rules_file: %v", err)
		}
	}
	if err := (Source{}).CheckClearable(); err != ErrNoRulesFile {
		t.Fatalf("no file: %v", err)
	}
}

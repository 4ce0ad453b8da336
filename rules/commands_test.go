package rules

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The rules commands on a Source: what each changes, says and refuses
// (an *InputError for a bad argument, the file unchanged).
func TestSourceCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(file, []byte("# keep me\ntarget: ./data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := Source{ConfigFile: file}
	origin := func(u string) Patch { return Patch{Origins: &[]string{u}} }
	for _, u := range []string{"http://a.example/", "http://b.example/"} {
		if _, done, err := src.Add(origin(u), nil); err != nil || !strings.HasPrefix(done, "added rule ") {
			t.Fatalf("Add(%s) = %q, %v", u, done, err)
		}
	}
	one := 1
	set, done, err := src.Add(origin("http://c.example/"), &one)
	if err != nil || done != "added rule 1 to "+file || set.Rules[0].Origins()[0].URL != "http://c.example/" {
		t.Fatalf("Add at 1 = %q, %v", done, err)
	}
	if !set.Rules[0].FollowRedirects || !set.Rules[0].MirrorHead {
		t.Errorf("an added rule follows redirects and answers HEAD unless told: %+v", set.Rules[0])
	}
	name := "second"
	if _, done, err := src.Change("2", Patch{Name: &name}); err != nil || done != "changed rule 2 in "+file {
		t.Fatalf("Change = %q, %v", done, err)
	}
	if done, err := src.MoveRule("2", 3); err != nil || done != "moved rule 2 to 3 in "+file {
		t.Fatalf("MoveRule = %q, %v", done, err)
	}
	set, _ = src.Load()
	if set.Rules[2].Name != "second" {
		t.Fatalf("rule 2 did not move to 3: %+v", set.Rules)
	}
	if done, err := src.RemoveRule("1"); err != nil || done != "removed rule 1 (origin http://c.example/) from "+file {
		t.Fatalf("RemoveRule = %q, %v", done, err)
	}
	before, _ := os.ReadFile(file)
	var ie *InputError
	for what, call := range map[string]func() error{
		"remove 9":    func() error { _, err := src.RemoveRule("9"); return err },
		"move --to 0": func() error { _, err := src.MoveRule("1", 0); return err },
		"change x":    func() error { _, _, err := src.Change("x", Patch{}); return err },
		"add at 7":    func() error { p := 7; _, _, err := src.Add(origin("http://d.example/"), &p); return err },
		"bad status": func() error {
			_, _, err := src.Add(Patch{Origins: &[]string{"http://d.example/"}, PassStatus: &[]string{"x"}}, nil)
			return err
		},
	} {
		if err := call(); !errors.As(err, &ie) {
			t.Errorf("%s: %v, want an *InputError", what, err)
		}
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Errorf("a refused command changed the file:\n%s", after)
	}
	if !bytes.Contains(before, []byte("# keep me")) {
		t.Errorf("the edits lost the comment:\n%s", before)
	}
	_, done, err = src.Validate()
	if err != nil || done != file+": 2 rules OK" {
		t.Errorf("Validate = %q, %v", done, err)
	}
	var list bytes.Buffer
	if err := src.WriteList(&list, set, true); err != nil || !strings.Contains(list.String(), "a.example") {
		t.Errorf("WriteList json = %s, %v", list.String(), err)
	}
	asked := 0
	no := errors.New("no")
	if _, err := src.ClearAll(dir, func(n int, f string) error { asked = n; return no }); err != no || asked != 2 {
		t.Errorf("ClearAll not confirmed = %v (asked about %d rules)", err, asked)
	}
	done, err = src.ClearAll(dir, nil)
	if err != nil || !strings.HasPrefix(done, "removed 2 rules from "+file+"\nbackup: ") {
		t.Errorf("ClearAll = %q, %v", done, err)
	}
	if done, err := src.ClearAll(dir, nil); err != nil || done != "no rules to clear in "+file {
		t.Errorf("ClearAll of none = %q, %v", done, err)
	}
	list.Reset()
	if err := (Source{}).WriteList(&list, &Set{}, false); err != nil || list.String() != "no rules (no config file): a missing key is answered 404\n" {
		t.Errorf("WriteList of none = %q, %v", list.String(), err)
	}
}

// Import writes a cloud's rules into a file without rules, and refuses to
// guess between replacing and appending otherwise.
func TestSourceImport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ferry.yaml")
	src := Source{NewFile: file}
	data, _, err := Export("jdcloud", []Rule{{OriginList: []Origin{{URL: "http://a.example/"}}, KeyPrefix: "img/"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.Import("jdcloud", "in.json", data, false, false)
	if err != nil || res.Done != "imported 1 rules into "+file+" (1 rules now)" {
		t.Fatalf("Import = %+v, %v", res, err)
	}
	src = Source{ConfigFile: file}
	var ie *InputError
	if _, err := src.Import("jdcloud", "in.json", data, false, false); !errors.As(err, &ie) || !strings.Contains(err.Error(), "pass --replace or --append") {
		t.Errorf("Import into rules = %v", err)
	}
	if res, err := src.Import("jdcloud", "in.json", data, false, true); err != nil || len(res.Set.Rules) != 2 {
		t.Errorf("Import --append = %+v, %v", res, err)
	}
	if _, err := src.Import("jdcloud", "in.json", []byte("{"), true, false); !errors.As(err, &ie) || !strings.Contains(err.Error(), "rules import: in.json: ") {
		t.Errorf("Import of a bad file = %v", err)
	}
}

func TestParseHeaders(t *testing.T) {
	h, err := ParseHeaders([]string{"A: 1", "a: 2", "B:3"})
	if err != nil || len(h.Values("A")) != 2 || h.Get("B") != "3" {
		t.Errorf("ParseHeaders = %v, %v", h, err)
	}
	var ie *InputError
	if _, err := ParseHeaders([]string{"nocolon"}); !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), "--header ") {
		t.Errorf("ParseHeaders(nocolon) = %v", err)
	}
}

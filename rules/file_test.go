package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplaceRulesLayouts: the rules: section is replaced in files of many
// shapes, every other line is kept, and the result reads back.
func TestReplaceRulesLayouts(t *testing.T) {
	one := []Rule{{Origin: "http://h/", KeyPrefix: "a/", FollowRedirects: true, MirrorHead: true}}
	tests := []struct{ name, in, want string }{
		{"empty file", "", "rules:\n  - key_prefix: a/\n    origin: http://h/\n"},
		{"comments only", "# hello\n", "# hello\nrules:\n  - key_prefix: a/\n    origin: http://h/\n"},
		{"no final newline", "target: file:///x", "target: file:///x\nrules:\n  - key_prefix: a/\n    origin: http://h/\n"},
		{"rules last without newline", "target: file:///x\nrules: []", "target: file:///x\nrules:\n  - key_prefix: a/\n    origin: http://h/"},
		{"rules first", "rules:\n  - origin: http://old/\n# about serve\nserve:\n  listen: \":1\"\n",
			"rules:\n  - key_prefix: a/\n    origin: http://h/\n# about serve\nserve:\n  listen: \":1\"\n"},
		{"document end marker", "target: file:///x\nrules: []\n...\n", "target: file:///x\nrules:\n  - key_prefix: a/\n    origin: http://h/\n...\n"},
		{"key comment kept", "rules: [] # mine\ntarget: file:///x\n", "rules: # mine\n  - key_prefix: a/\n    origin: http://h/\ntarget: file:///x\n"},
		{"null rules", "rules:\ntarget: file:///x\n", "rules:\n  - key_prefix: a/\n    origin: http://h/\ntarget: file:///x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := Replace("ferry.yaml", []byte(tt.in), one)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", out, tt.want)
			}
		})
	}
	// A top level that is not a mapping is refused.
	if _, _, err := Replace("ferry.yaml", []byte("- a\n- b\n"), one); err == nil {
		t.Error("a list at the top level was accepted")
	}
	// An anchor in the rules used elsewhere: other keys would change, so the
	// rewrite is refused rather than silently altering them.
	in := "rules:\n  - &o {origin: \"http://h/\"}\ntarget: file:///x\nx: *o\n"
	if _, _, err := Replace("ferry.yaml", []byte(in), one); err == nil {
		t.Error("a rewrite that changes another key was accepted")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.yaml")
	link := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(real, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	if err := WriteFileAtomic(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(real)
	st, _ := os.Stat(real)
	if !bytes.Equal(data, []byte("new")) || st.Mode().Perm() != 0o600 {
		t.Errorf("real file: %q %v", data, st.Mode())
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

// TestClearFileReadOnly: a config file nobody may write (a ConfigMap mounted
// read-only) is refused before anything is written, also for root, and an
// editable file is cleared with a backup that restores the rules.
func TestClearFileReadOnly(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ferry.yaml")
	content := "target: file:///x\nrules:\n  - origin: http://h/\n"
	if err := os.WriteFile(file, []byte(content), 0o444); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ClearFile(file, filepath.Join(dir, "state")); err == nil {
		t.Fatal("a read-only config file was rewritten")
	}
	if err := CheckWritable(file); err == nil {
		t.Error("CheckWritable accepted a 0444 file")
	}
	if data, _ := os.ReadFile(file); string(data) != content {
		t.Errorf("file changed: %q", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Error("a backup was written for a refused clear")
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	backup, n, err := ClearFile(file, filepath.Join(dir, "state"))
	if err != nil || n != 1 {
		t.Fatalf("ClearFile: %d, %v", n, err)
	}
	set, err := ReadFile(file)
	if err != nil || len(set.Rules) != 0 {
		t.Fatalf("rules left: %v, %v", set, err)
	}
	if set, err := ReadFile(backup); err != nil || len(set.Rules) != 1 || set.Rules[0].Origin != "http://h/" {
		t.Errorf("backup %s does not restore the rule: %v, %v", backup, set, err)
	}
}

package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// A directory the listing cannot read (EACCES, which root never meets on a
// local disk but does on network and FUSE mounts) is reported to Skipped,
// the rest is listed, and the directory is not remembered as bare.
func TestDirListerReportsUnreadable(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a/x", "locked/y", "z"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	locked := filepath.Join(dir, "locked")
	read := readDirEntries
	readDirEntries = func(path string) ([]os.DirEntry, error) {
		if path == locked {
			return nil, &os.PathError{Op: "open", Path: path, Err: syscall.EACCES}
		}
		return read(path)
	}
	defer func() { readDirEntries = read }()
	b, err := OpenOrigin(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l := b.NewDirLister("", "")
	var skipped []string
	l.Skipped = func(path string, err error) { skipped = append(skipped, path) }
	objs, more, err := l.Next(context.Background(), 10)
	if err != nil || more {
		t.Fatalf("Next: %v, more %v", err, more)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if !slices.Equal(keys, []string{"a/x", "z"}) || !slices.Equal(skipped, []string{locked}) {
		t.Errorf("listed %q, skipped %q; want a/x and z, %s skipped", keys, skipped, locked)
	}
	if _, ok := b.bare.m.Load(locked); ok {
		t.Error("an unreadable directory is remembered as holding no sidecars")
	}
	if _, ok := b.bare.m.Load(filepath.Join(dir, "a")); !ok {
		t.Error("a directory read without sidecars is not remembered")
	}
}

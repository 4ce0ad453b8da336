package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// dirListKeys are written through the bucket (fileblob escapes what needs
// it and writes a sidecar with the MD5).
var dirListKeys = []string{
	"plain.txt", "with space/a b.html", "日本語/ファイル", "plus+sign", "per%cent", "a/b", "a-b", "a.b", "a b",
	"a/b-c", "a/b.c", "ab", "tab\tkey", "up/../x", "looks__0x41__escaped", "dir/sub/x", "dir/sub/y",
	"dir/z", "dir2/only", "double//slash", "x.attrsy", strings.Repeat("segment-x/", 20) + "end",
}

// dirListFiles are written straight to disk, as a web root holds them: no
// sidecar, names fileblob would have escaped, a directory whose name ends
// in the sidecar extension (fileblob walks into it), a symlink (listed, as
// fileblob lists it), an empty directory.
var dirListFiles = []string{
	"raw/index.html", "raw/a-b", "raw/a/b", "raw/a.b", "raw/x__0x41__y", "raw/d__0x42__/f", "raw/dir.attrs/inner", "raw/z.attrs",
	"site/css/site.css", "site/css-old/site.css", "site/img/1.png", "site/img/2.png", "site/img.png", "site/img0",
}

// unreadableKeys are what fileblob lists two of the files above as (it
// unescapes their names), though no key reads them: the key "raw/xAy" is
// the file raw/xAy. A DirLister reports them and leaves them out.
var unreadableKeys = map[string]bool{"raw/xAy": true, "raw/dB/f": true, "raw/dB/": true}

// wantDirListed is what a listing of all of it holds: the keys, the files
// but raw/z.attrs (a name fileblob reserves) and the two unreadable ones,
// and the symlink.
var wantDirListed = len(dirListKeys) + len(dirListFiles) - 1 - 2 + 1

// fillDirBucket writes the keys and files above into a new local bucket.
func fillDirBucket(t *testing.T) (*store.Bucket, string) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	b, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for i, k := range dirListKeys {
		if err := b.WriteAll(ctx, k, bytes.Repeat([]byte("k"), i+1), nil); err != nil {
			t.Fatalf("write %q: %v", k, err)
		}
	}
	for i, name := range dirListFiles {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte("f"), i+1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("index.html", filepath.Join(dir, "raw", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	return b, dir
}

// listed is one object as a test compares it.
type listed struct {
	Key  string
	Size int64
	Mod  int64
	MD5  string
}

func (l listed) String() string { return fmt.Sprintf("%q/%d/%x", l.Key, l.Size, l.MD5) }

func fileblobListing(t *testing.T, b *store.Bucket, prefix string) []listed {
	t.Helper()
	var out []listed
	token := blob.FirstPageToken
	for {
		// One page: fileblob's pages can repeat a key across a page
		// boundary (with pages of 7, site/img/1.png comes twice).
		objs, next, err := b.ListPage(context.Background(), token, 1000, &blob.ListOptions{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if !unreadableKeys[o.Key] {
				out = append(out, listed{o.Key, o.Size, o.ModTime.UnixNano(), string(o.MD5)})
			}
		}
		if len(next) == 0 {
			return out
		}
		token = next
	}
}

func dirListing(t *testing.T, b *store.Bucket, prefix, after string, page int) ([]listed, []string) {
	t.Helper()
	l := b.NewDirLister(prefix, after)
	if l == nil {
		t.Fatal("no DirLister for a local directory")
	}
	var (
		out   []listed
		names []string
	)
	for {
		objs, more, err := l.Next(context.Background(), page)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) > page {
			t.Fatalf("a page of %d objects, asked for %d", len(objs), page)
		}
		for _, o := range objs {
			out = append(out, listed{o.Key, o.Size, o.ModTime.UnixNano(), string(o.MD5)})
			names = append(names, o.Name)
		}
		if !more {
			return out, names
		}
	}
}

func sortedListing(l []listed) []listed {
	l = slices.Clone(l)
	slices.SortFunc(l, func(a, b listed) int { return strings.Compare(a.Key, b.Key) })
	return l
}

// A DirLister lists what fileblob's ListPage lists (keys, sizes, times,
// MD5s from the sidecars fileblob wrote; but the unreadableKeys), under any prefix and in any page
// size, in byte order of the file names.
func TestDirListerMatchesFileblob(t *testing.T) {
	b, _ := fillDirBucket(t)
	for _, prefix := range []string{"", "a", "a/", "a/b", "dir", "dir/sub/", "raw/", "raw/a", "site/img", "日本語/", "none/", "looks"} {
		want := sortedListing(fileblobListing(t, b, prefix))
		for _, page := range []int{1, 3, 1000} {
			got, names := dirListing(t, b, prefix, "", page)
			if !slices.Equal(sortedListing(got), want) {
				t.Errorf("prefix %q, pages of %d:\n got %v\nwant %v", prefix, page, sortedListing(got), want)
			}
			if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
				t.Errorf("prefix %q, pages of %d: names not in byte order, or repeated: %q", prefix, page, names)
			}
		}
	}
	all, _ := dirListing(t, b, "", "", 1000)
	if n := len(all); n != wantDirListed {
		t.Errorf("listed %d objects, want %d", n, wantDirListed)
	}
	md5s := 0
	for _, o := range all {
		if o.MD5 != "" {
			md5s++
		}
	}
	if md5s != len(dirListKeys) {
		t.Errorf("%d objects listed with an MD5, want the %d fileblob wrote", md5s, len(dirListKeys))
	}
}

// A DirLister of one level lists what fileblob's ListPage with the
// delimiter "/" lists (objects and directories), but for an empty
// directory, which it lists and fileblob does not.
func TestDirListerLevelMatchesFileblob(t *testing.T) {
	b, _ := fillDirBucket(t)
	for _, prefix := range []string{"", "a", "a/", "dir/", "dir/sub/", "raw/", "site/", "site/img", "up/", "none/"} {
		var want []string
		token := blob.FirstPageToken
		for {
			objs, next, err := b.ListPage(context.Background(), token, 1000, &blob.ListOptions{Prefix: prefix, Delimiter: "/"})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if !unreadableKeys[o.Key] {
					want = append(want, fmt.Sprintf("%q %v %d", o.Key, o.IsDir, o.Size))
				}
			}
			if len(next) == 0 {
				break
			}
			token = next
		}
		if prefix == "" {
			want = append(want, fmt.Sprintf("%q %v %d", "empty/", true, 0))
		}
		for _, page := range []int{1, 1000} {
			l := b.NewDirLister(prefix, "")
			l.Level = true
			var got []string
			for more := true; more; {
				objs, m, err := l.Next(context.Background(), page)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range objs {
					got = append(got, fmt.Sprintf("%q %v %d", o.Key, o.IsDir, o.Size))
				}
				more = m
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("prefix %q, pages of %d:\n got %q\nwant %q", prefix, page, got, want)
			}
		}
	}
}

// A listing continued page after page by new DirListers, each started
// after the last Name of the page before (as serve continues a client's
// listing), lists what one DirLister lists, once, in both modes.
func TestDirListerContinues(t *testing.T) {
	b, _ := fillDirBucket(t)
	for _, level := range []bool{false, true} {
		for _, prefix := range []string{"", "a", "site/", "raw/"} {
			full := b.NewDirLister(prefix, "")
			full.Level = level
			want, _, err := full.Next(context.Background(), 1000)
			if err != nil {
				t.Fatal(err)
			}
			wantKeys := listedKeys(want)
			for _, page := range []int{1, 2, 5} {
				var got []string
				after := ""
				for {
					l := b.NewDirLister(prefix, "")
					l.Level, l.StartAfter = level, after
					objs, more, err := l.Next(context.Background(), page)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, listedKeys(objs)...)
					if !more || len(objs) == 0 {
						break
					}
					after = objs[len(objs)-1].Name
				}
				if !slices.Equal(got, wantKeys) {
					t.Errorf("level %v, prefix %q, pages of %d:\n got %q\nwant %q", level, prefix, page, got, wantKeys)
				}
			}
		}
	}
}

func listedKeys(objs []store.ListObject) []string {
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// A DirLister started after a name lists at least every name after it
// (what a range listing keeps), and leaves out the plain directories and
// files before it without reading them.
func TestDirListerAfter(t *testing.T) {
	b, _ := fillDirBucket(t)
	_, names := dirListing(t, b, "", "", 1000)
	for _, after := range []string{"a/b", "dir/", "dir/sub/x", "raw/a", "site/img/1.png", "zzz"} {
		_, got := dirListing(t, b, "", after, 2)
		for _, n := range names {
			if n > after && !slices.Contains(got, n) {
				t.Errorf("after %q: %q left out", after, n)
			}
		}
	}
	// Everything under site/css-old/ and plain.txt sort before site/css/.
	_, got := dirListing(t, b, "", "site/css/site.css", 1000)
	for _, n := range got {
		if strings.HasPrefix(n, "site/css-old/") || n == "plain.txt" || n == "site/css/site.css" {
			t.Errorf("after site/css/site.css: %q listed", n)
		}
	}
}

// A file removed after its directory was read is left out; the listing
// goes on.
func TestDirListerVanishedFile(t *testing.T) {
	b, dir := fillDirBucket(t)
	l := b.NewDirLister("site/", "")
	first, _, err := l.Next(context.Background(), 1)
	if err != nil || len(first) != 1 || first[0].Key != "site/css-old/site.css" {
		t.Fatalf("first page %v, %v; want site/css-old/site.css", first, err)
	}
	if err := os.Remove(filepath.Join(dir, "site", "css", "site.css")); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for {
		objs, more, err := l.Next(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			rest = append(rest, o.Key)
		}
		if !more {
			break
		}
	}
	if want := []string{"site/img.png", "site/img/1.png", "site/img/2.png", "site/img0"}; !slices.Equal(rest, want) {
		t.Errorf("after removing site/css/site.css listed %q, want %q", rest, want)
	}
}

// A bucket whose directory is reached through a symlink lists what the
// directory holds (fileblob's walk does not follow a symlinked root).
// A file or directory whose name holds an escape fileblob did not write is
// read by no key (its unescaped key names another file): the DirLister
// reports it to Skipped with the key it would list as, and leaves it out;
// a fileblob-escaped name (looks__0x41__escaped, double//slash) is listed.
func TestDirListerReportsUnreadableNames(t *testing.T) {
	b, dir := fillDirBucket(t)
	ctx := context.Background()
	if _, err := b.NewReader(ctx, "raw/xAy", nil); !store.IsNotFound(err) {
		t.Fatalf("read of raw/xAy: %v, want not found (the file is raw/x__0x41__y)", err)
	}
	for _, level := range []bool{false, true} {
		for _, prefix := range []string{"", "raw/", "raw/d"} {
			l := b.NewDirLister(prefix, "")
			l.Level = level
			got := map[string]string{}
			l.Skipped = func(path string, err error) {
				var ue *store.UnreadableNameError
				if !errors.As(err, &ue) {
					t.Errorf("Skipped(%q, %v): not an UnreadableNameError", path, err)
					return
				}
				rel, _ := filepath.Rel(dir, path)
				got[filepath.ToSlash(rel)] = ue.Key
			}
			var keys []string
			for more := true; more; {
				objs, m, err := l.Next(ctx, 1000)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range objs {
					keys = append(keys, o.Key)
				}
				more = m
			}
			want := map[string]string{"raw/x__0x41__y": "raw/xAy", "raw/d__0x42__": "raw/dB"}
			if level && prefix == "" {
				want = map[string]string{} // the walk stays above raw/
			}
			if prefix == "raw/d" {
				want = map[string]string{"raw/d__0x42__": "raw/dB"}
			}
			if !maps.Equal(got, want) {
				t.Errorf("level %v, prefix %q: reported %v, want %v", level, prefix, got, want)
			}
			for _, k := range keys {
				if unreadableKeys[k] {
					t.Errorf("level %v, prefix %q: listed %q", level, prefix, k)
				}
			}
			if !level && prefix == "" && (!slices.Contains(keys, "looks__0x41__escaped") || !slices.Contains(keys, "double//slash")) {
				t.Errorf("fileblob's own escaped names are missing from %q", keys)
			}
		}
	}
}

func TestSymlinkedDirectory(t *testing.T) {
	_, dir := fillDirBucket(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	b, err := store.OpenOrigin(context.Background(), link)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, _ := dirListing(t, b, "", "", 1000)
	if want := fileblobListing(t, b, ""); len(got) != wantDirListed || len(want) != len(got) {
		t.Errorf("through a symlink: DirLister %d objects, ListPage %d; want %d", len(got), len(want), wantDirListed)
	}
}

// BenchmarkListDirectory lists 20,000 plain files (no sidecars) in 100
// directories, with a DirLister and with fileblob's ListPage in pages of
// 1,000 (fileblob walks from the root for each page).
func BenchmarkListDirectory(b *testing.B) {
	dir := b.TempDir()
	for d := range 100 {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 200 {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d.bin", f)), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	bk, err := store.OpenOrigin(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	count := func(b *testing.B, n int) {
		if n != 20_000 {
			b.Fatalf("listed %d files, want 20000", n)
		}
	}
	perKey := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20_000, "ns/key")
	}
	b.Run("DirLister", func(b *testing.B) {
		for b.Loop() {
			l, n := bk.NewDirLister("", ""), 0
			for more := true; more; {
				objs, m, err := l.Next(context.Background(), 1000)
				if err != nil {
					b.Fatal(err)
				}
				n, more = n+len(objs), m
			}
			count(b, n)
		}
		perKey(b)
	})
	b.Run("fileblob", func(b *testing.B) {
		for b.Loop() {
			token, n := blob.FirstPageToken, 0
			for {
				objs, next, err := bk.ListPage(context.Background(), token, 1000, nil)
				if err != nil {
					b.Fatal(err)
				}
				n += len(objs)
				if len(next) == 0 {
					break
				}
				token = next
			}
			count(b, n)
		}
		perKey(b)
	})
}

// oldFile writes a file and waits until its status time is over a second
// old, so that a listing after it may trust that it has no sidecar.
func oldFile(t *testing.T, path string, body []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for time.Since(st.ModTime()) <= 1100*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
	}
}

// A file listed in a directory without sidecars is read without looking
// for one; an object fileblob writes after the listing (its sidecar first,
// then the object renamed into place) is read with its sidecar.
func TestListedFileWithoutSidecar(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	oldFile(t, filepath.Join(dir, "site", "page.html"), []byte("<p>hi</p>"))
	oldFile(t, filepath.Join(dir, "site", "other.css"), []byte("p{}"))
	b, err := store.OpenOrigin(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if objs, _, err := b.NewDirLister("", "").Next(ctx, 10); err != nil || len(objs) != 2 {
		t.Fatalf("listed %v, %v", objs, err)
	}
	open := func(key string) store.Meta {
		t.Helper()
		r, m, err := b.OpenObject(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		return m
	}
	if m := open("site/page.html"); m.ContentType != "text/html" || m.Size != 9 {
		t.Errorf("plain listed file: %+v", m)
	}
	// A sidecar put there by hand after the listing, the object left as it
	// was, is not looked for: the listing showed none.
	if err := os.WriteFile(filepath.Join(dir, "site", "page.html.attrs"), []byte(`{"user.content_type":"x/by-hand"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if m := open("site/page.html"); m.ContentType != "text/html" {
		t.Errorf("read a sidecar the listing did not show: %+v", m)
	}
	// fileblob replaces an object: its new sidecar is read.
	if err := b.WriteAll(ctx, "site/other.css", []byte("p{color:red}"), &blob.WriterOptions{ContentType: "text/x-new"}); err != nil {
		t.Fatal(err)
	}
	if m := open("site/other.css"); m.ContentType != "text/x-new" || len(m.MD5) == 0 {
		t.Errorf("object fileblob wrote after the listing: %+v, want its sidecar's type and MD5", m)
	}
	// A directory listed with sidecars in it is read as before.
	if objs, _, err := b.NewDirLister("", "").Next(ctx, 10); err != nil || len(objs) != 2 {
		t.Fatalf("listed %v, %v", objs, err)
	}
	if m := open("site/page.html"); m.ContentType != "x/by-hand" {
		t.Errorf("after a listing that saw the sidecar: %+v", m)
	}
}

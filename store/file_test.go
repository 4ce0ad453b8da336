package store_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// The file fast path (serve's hits, directory origins) reads fileblob's
// on-disk format itself; it must give the Meta and bytes the bucket gives,
// for objects written through fileblob and for plain files, and leave the
// keys fileblob escapes to the bucket.
func TestFileFastPathMatchesBucket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	written := map[string]*blob.WriterOptions{
		"site/page.html": {ContentType: "text/html", CacheControl: "max-age=60", ContentLanguage: "de",
			ContentDisposition: "inline", ContentEncoding: "identity",
			Metadata: map[string]string{"expires": "Thu, 01 Jan 2037 00:00:00 GMT", "owner": "alice"}},
		"with space+plus%é": nil,
		"a//b":              nil, // fileblob escapes "//": the bucket path
		"x__0x41__y":        nil, // a look-alike of fileblob's escapes
		"trailing/":         nil,
	}
	for k, o := range written {
		if err := b.WriteAll(ctx, k, []byte("body of "+k), o); err != nil {
			t.Fatal(err)
		}
	}
	// Plain files, as a web server's document root holds them.
	for _, k := range []string{"plain/app.js", "plain/NOTICE"} {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("body of "+k), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	types := store.DefaultContentTypes()
	fast := map[string]bool{"site/page.html": true, "with space+plus%é": true, "plain/app.js": true, "plain/NOTICE": true}
	for _, k := range []string{"site/page.html", "with space+plus%é", "a//b", "x__0x41__y", "trailing/", "plain/app.js", "plain/NOTICE"} {
		a, err := b.Attributes(ctx, k)
		if err != nil {
			t.Fatalf("%q: %v", k, err)
		}
		want := store.MetaFromAttributes(a)
		want.ContentType = types.ForAttributes(k, a)
		got, err := b.Stat(ctx, k, types)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Stat(%q) = %+v, %v\nwant %+v", k, got, err, want)
		}
		r, m, err := b.OpenObject(ctx, k, types)
		if err != nil {
			t.Fatalf("OpenObject(%q): %v", k, err)
		}
		body, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(body) != "body of "+k || !reflect.DeepEqual(m, want) {
			t.Errorf("OpenObject(%q) = %q %+v, %v", k, body, m, err)
		}
		f, hit, err := b.OpenFile(k)
		switch {
		case fast[k] && err == nil:
			f.Close()
			want.ContentType = a.ContentType // a target's hit keeps what the bucket says
			if !reflect.DeepEqual(hit, want) {
				t.Errorf("OpenFile(%q) = %+v\nwant %+v", k, hit, want)
			}
		case fast[k]:
			t.Errorf("OpenFile(%q): %v, want the fast path", k, err)
		case !errors.Is(err, store.ErrNoFastPath):
			t.Errorf("OpenFile(%q): %v, want ErrNoFastPath", k, err)
		}
	}
	if got, _ := b.Stat(ctx, "plain/app.js", types); got.ContentType != "application/javascript" {
		t.Errorf("plain file type %q", got.ContentType)
	}
	for _, open := range []func() error{
		func() error { _, _, err := b.OpenFile("site/missing.html"); return err },
		func() error { _, err := b.Stat(ctx, "site/missing.html", types); return err },
		func() error { _, _, err := b.OpenObject(ctx, "site/missing.html", types); return err },
	} {
		if err := open(); !store.IsNotFound(err) {
			t.Errorf("missing object: %v, want IsNotFound", err)
		}
	}
	mem, err := store.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if _, _, err := mem.OpenFile("k"); !errors.Is(err, store.ErrNoFastPath) {
		t.Errorf("mem OpenFile: %v", err)
	}
}

func TestCheckKey(t *testing.T) {
	for key, want := range map[string]error{
		"plain/key.txt": nil, "with space+plus%é": nil, "a//b": nil, "trailing/": nil, "..x/.y": nil,
		"a/../b": store.ErrKeyDots, "./a": store.ErrKeyDots, "a/..": store.ErrKeyDots,
		"a\x01b": store.ErrKeyControl, "a\x7fb": store.ErrKeyControl, "a\nb": store.ErrKeyControl,
		"a\xffb":                                 store.ErrKeyUTF8,
		strings.Repeat("k", store.MaxKeyBytes):   nil,
		strings.Repeat("k", store.MaxKeyBytes+1): store.ErrKeyTooLong,
	} {
		if got := store.CheckKey(key); got != want {
			t.Errorf("CheckKey(%.20q) = %v, want %v", key, got, want)
		}
	}
}

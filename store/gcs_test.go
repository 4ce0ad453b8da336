package store_test

import (
	"context"
	"encoding/hex"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/gcstest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// gcsObjects writes the objects of the GCS tests into b and returns their
// bodies.
func gcsObjects(t *testing.T, b *store.Bucket) map[string]string {
	t.Helper()
	return writeObjects(t, b, map[string]*blob.WriterOptions{
		"plain.txt": nil,
		"dir/a b+c%d.html": {ContentType: "text/html; charset=utf-8", ContentDisposition: `attachment; filename="a b.html"`,
			ContentLanguage: "de", CacheControl: "max-age=60",
			Metadata: map[string]string{"origin-etag": `"5f3e-1000"`, "expires": "Thu, 01 Jan 2037 00:00:00 GMT", "Mixed-Case": "x y", "9lives": "v"}},
		"日本語/ファイル":     {Metadata: map[string]string{"note": "Grüße, 世界 100% +x"}},
		"page.html.gz": {ContentType: "text/html", ContentEncoding: "gzip"},
		"empty":        nil,
	})
}

// TestGCSGetMatchesHead: a Get of a gs:// bucket takes the Meta from the
// one answer it reads (the XML API's headers), and it is the Meta a Head
// (the JSON API's attributes) gives, for every range; the ETag is the
// quoted hex MD5 either way; the body holds the stored bytes (a gzip
// object is not unzipped, by GCS or by Go); a missing key and an
// unsatisfiable range are the errors of the other targets.
func TestGCSGetMatchesHead(t *testing.T) {
	s := gcstest.New(t)
	ctx := context.Background()
	name := s.NewBucket(t, "target")
	eachPrefix(t, func(prefix string) string { return s.URL(name, prefix) }, func(t *testing.T, b *store.Bucket) {
		bodies := gcsObjects(t, b)
		for key, body := range bodies {
			a, err := b.Attributes(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			want := read(t, b, key, "", true).Meta
			if wantTag := `"` + hex.EncodeToString(a.MD5) + `"`; want.ETag != wantTag || want.Size != int64(len(body)) {
				t.Errorf("HEAD %q: ETag %s size %d, want the MD5 %s and %d", key, want.ETag, want.Size, wantTag, len(body))
			}
			getMatches(t, b, key, body, want, true) // a GET's Last-Modified has whole seconds
		}
		if m := read(t, b, "page.html.gz", "", false).Meta; m.ContentEncoding != "gzip" || m.Size != int64(len(bodies["page.html.gz"])) {
			t.Errorf("gzip object: %+v", m)
		}
		if m := read(t, b, "dir/a b+c%d.html", "", false).Meta; m.Metadata["mixed-case"] != "x y" || m.Expires != "Thu, 01 Jan 2037 00:00:00 GMT" || m.Metadata["origin-etag"] != `"5f3e-1000"` {
			t.Errorf("user metadata: %+v", m)
		}
		for _, c := range []struct{ key, rng string }{{"plain.txt", "bytes=1000-"}, {"plain.txt", "bytes=1000-2000"}} {
			if g := read(t, b, c.key, c.rng, false); !g.BadRange || g.NotFound {
				t.Errorf("unsatisfiable %q %s: %+v", c.key, c.rng, g)
			}
		}
		missingNotFound(t, b)
	})
}

// TestGCSOneRequestPerRead counts what reaches the emulator: a Get is one
// GET of the object (a suffix range one attributes request: gocloud takes
// none; an object whose user metadata a header may not carry as stored
// adds one), a Head one attributes request, part 1 one GET, and OpenObject
// (a bucket origin's read) one GET. Every read asks for the stored bytes
// (Accept-Encoding: gzip); the JSON API's requests do not, so their
// answers come back plain.
func TestGCSOneRequestPerRead(t *testing.T) {
	s := gcstest.New(t)
	ctx := context.Background()
	name := s.NewBucket(t, "target")
	b, err := store.Open(ctx, s.URL(name, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "k", []byte("0123456789"), &blob.WriterOptions{Metadata: map[string]string{"m": "v"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(ctx, "u", []byte("0123456789"), &blob.WriterOptions{Metadata: map[string]string{"m": "v", "note": "Grüße 100%"}}); err != nil {
		t.Fatal(err)
	}
	obj, attrs := "GET "+gcstest.ObjectPath(name, "k"), "GET "+gcstest.MetadataPath(name, "k")
	s.Take()
	for _, c := range []struct {
		name string
		do   func() error
		want []string
	}{
		{"Get", func() error { return get(ctx, b, "") }, []string{obj}},
		{"Get range", func() error { return get(ctx, b, "bytes=2-5") }, []string{obj}},
		{"Get open range", func() error { return get(ctx, b, "bytes=2-") }, []string{obj}},
		{"Get suffix range", func() error { return get(ctx, b, "bytes=-3") }, []string{attrs}},
		{"Head", func() error { _, err := b.Head(ctx, "k"); return err }, []string{attrs}},
		{"GetPart 1", func() error {
			o, err := b.GetPart(ctx, "k", 1)
			if err == nil {
				if o.Body == nil || o.Length != 10 || o.Meta.Size != 10 {
					t.Errorf("GetPart 1: %+v", o)
				}
				if o.Body != nil {
					o.Body.Close()
				}
			}
			return err
		}, []string{obj}},
		{"OpenObject", func() error {
			r, m, err := b.OpenObject(ctx, "k", nil)
			if err == nil {
				data, _ := io.ReadAll(r)
				r.Close()
				if string(data) != "0123456789" || m.Metadata["m"] != "v" {
					t.Errorf("OpenObject: %q %+v", data, m)
				}
			}
			return err
		}, []string{obj}},
		// User metadata a header may not carry as stored: the attributes
		// give it (one more request, for such objects only).
		{"Get of non-ASCII metadata", func() error {
			o, err := b.Get(ctx, "u", "")
			if err == nil {
				o.Body.Close()
				if o.Meta.Metadata["note"] != "Grüße 100%" || o.Meta.Metadata["m"] != "v" {
					t.Errorf("Get: metadata %q", o.Meta.Metadata)
				}
			}
			return err
		}, []string{"GET " + gcstest.ObjectPath(name, "u"), "GET " + gcstest.MetadataPath(name, "u")}},
		{"Get missing", func() error {
			if err := get(ctx, b, "bytes=0-1", "none"); !store.IsNotFound(err) {
				t.Errorf("Get missing: %v", err)
			}
			return nil
		}, []string{"GET " + gcstest.ObjectPath(name, "none")}},
	} {
		if err := c.do(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		reqs := s.Take()
		var got []string
		for _, r := range reqs {
			got = append(got, r.String())
			if media := !strings.HasPrefix(r.Path, "/storage/v1/"); media != (r.AcceptEncoding == "gzip") {
				t.Errorf("%s: %s sent Accept-Encoding %q", c.name, r, r.AcceptEncoding)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: the emulator saw %q, want %q", c.name, got, c.want)
		}
	}
}

// TestGCSReadsStoredBytes: an object stored gzip-compressed is read as
// stored by every read path (NewReader as scan copies a bucket origin,
// OpenObject, Get), with the size its attributes give; gocloud's default
// client would hand back the unzipped bytes, of unknown size.
func TestGCSReadsStoredBytes(t *testing.T) {
	s := gcstest.New(t)
	ctx := context.Background()
	b, err := store.Open(ctx, s.URL(s.NewBucket(t, "origin"), ""))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	gz := gzipped(t, strings.Repeat("hello gzip ", 200))
	if err := b.WriteAll(ctx, "a.txt", []byte(gz), &blob.WriterOptions{ContentType: "text/plain", ContentEncoding: "gzip"}); err != nil {
		t.Fatal(err)
	}
	r, err := b.NewReader(ctx, "a.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	r.Close()
	if string(data) != gz || r.Size() != int64(len(gz)) {
		t.Errorf("NewReader: %d bytes (size %d), want the %d stored", len(data), r.Size(), len(gz))
	}
	rc, m, err := b.OpenObject(ctx, "a.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(rc)
	rc.Close()
	if string(data) != gz || m.Size != int64(len(gz)) || m.ContentEncoding != "gzip" {
		t.Errorf("OpenObject: %d bytes, %+v; want the %d stored", len(data), m, len(gz))
	}
}

// TestGCSURLErrors: a gs:// URL's bad parameters and missing credentials
// fail at open, naming what is wrong.
func TestGCSURLErrors(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", t.TempDir()+"/none.json")
	ctx := context.Background()
	for u, want := range map[string]string{
		"gs://b?endpoint=x":      `invalid query parameter "endpoint"`,
		"gs://b?anonymous=maybe": `invalid value "maybe" for query parameter "anonymous"`,
		"gs://b":                 "no Google credentials",
		"gs://b/p?access_id=me":  `invalid query parameter "access_id"`,
		"gs://b?anonymous=false": "GOOGLE_APPLICATION_CREDENTIALS",
	} {
		_, err := store.OpenWith(ctx, u, store.Options{SkipCheck: true})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", u, err, want)
		}
	}
	// A public bucket needs no credentials.
	b, err := store.OpenWith(ctx, "gs://b?anonymous=true", store.Options{SkipCheck: true})
	if err != nil {
		t.Fatalf("anonymous: %v", err)
	}
	b.Close()
}

// TestGCSBucketGone: a read of a bucket that does not exist is NoSuchBucket
// (and not found), on Get, Head and part reads, though the storage client
// answers every 404 as "object doesn't exist"; a missing object in a
// bucket that exists is not (TestGCSGetMatchesHead).
func TestGCSBucketGone(t *testing.T) {
	gcstest.NoBuckets(t)
	ctx := context.Background()
	b, err := store.OpenWith(ctx, "gs://gone", store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"Get", func() error { return get(ctx, b, "") }},
		{"Get range", func() error { return get(ctx, b, "bytes=1-2") }},
		{"Get suffix range", func() error { return get(ctx, b, "bytes=-2") }},
		{"Head", func() error { _, err := b.Head(ctx, "k"); return err }},
		{"GetPart 1", func() error { _, err := b.GetPart(ctx, "k", 1); return err }},
	} {
		if err := c.do(); !store.IsNoSuchBucket(err) || !store.IsNotFound(err) {
			t.Errorf("%s: %v, want NoSuchBucket", c.name, err)
		}
	}
}

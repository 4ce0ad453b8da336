package store_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/azuritetest"
	"github.com/ferry-migrate/ferry/internal/reqlog"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// gzipped returns s compressed, as an object stored with
// Content-Encoding: gzip holds it.
func gzipped(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// azureObjects writes the objects of the Azure tests into b and returns
// their bodies.
func azureObjects(t *testing.T, b *store.Bucket) map[string]string {
	t.Helper()
	return writeObjects(t, b, map[string]*blob.WriterOptions{
		"plain.txt": nil,
		"dir/a b+c%d.html": {ContentType: "text/html; charset=utf-8", ContentDisposition: `attachment; filename="a b.html"`,
			ContentLanguage: "de", CacheControl: "max-age=60",
			Metadata: map[string]string{"origin-etag": `"5f3e-1000"`, "expires": "Thu, 01 Jan 2037 00:00:00 GMT", "a:b=c@d": "Grüße, 世界 100% +x", "x": "y z", "9lives": "v"}},
		"日本語/ファイル":     {Metadata: map[string]string{"ÄÖ": "é"}},
		"page.html.gz": {ContentType: "text/html", ContentEncoding: "gzip"},
		"empty":        nil,
		"dir/":         nil,
	})
}

// writeObjects writes objects into b and returns their bodies: "empty"
// and "dir/" are empty, "page.html.gz" is gzip-compressed HTML, any other
// key holds 30 digits and its name.
func writeObjects(t *testing.T, b *store.Bucket, objects map[string]*blob.WriterOptions) map[string]string {
	t.Helper()
	ctx := context.Background()
	bodies := map[string]string{}
	for key, o := range objects {
		body := strings.Repeat("0123456789", 3) + key
		switch key {
		case "empty", "dir/":
			body = ""
		case "page.html.gz":
			body = gzipped(t, strings.Repeat("<p>compressed</p>", 50))
		}
		if err := b.WriteAll(ctx, key, []byte(body), o); err != nil {
			t.Fatal(err)
		}
		bodies[key] = body
	}
	return bodies
}

// TestAzureGetMatchesAttributes: a Get of an azblob:// target takes the
// Meta from the one answer it reads, and it is exactly the Meta that
// Attributes (Get Blob Properties) gives for the same object, for every
// range; the body holds the bytes the Object says (stored bytes: a gzip
// object is not decompressed); errors are those of the other targets.
func TestAzureGetMatchesAttributes(t *testing.T) {
	s := azuritetest.Get(t)
	ctx := context.Background()
	name := s.NewContainer(t)
	eachPrefix(t, func(prefix string) string { return s.URL(name, prefix) }, func(t *testing.T, b *store.Bucket) {
		bodies := azureObjects(t, b)
		for key, body := range bodies {
			a, err := b.Attributes(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			want := store.MetaFromAttributes(a)
			want.LastModified = want.LastModified.UTC()
			if len(want.Metadata) == 0 {
				want.Metadata = nil // as read normalizes it
			}
			if h := read(t, b, key, "", true); !reflect.DeepEqual(h.Meta, want) {
				t.Errorf("HEAD %q:\nhead  %+v\nattrs %+v", key, h.Meta, want)
			}
			getMatches(t, b, key, body, want, false)
		}
		if m := read(t, b, "page.html.gz", "", false).Meta; m.ContentEncoding != "gzip" || m.Size != int64(len(bodies["page.html.gz"])) {
			t.Errorf("gzip object: %+v", m)
		}
		if m := read(t, b, "dir/a b+c%d.html", "", false).Meta; m.Metadata["a:b=c@d"] != "Grüße, 世界 100% +x" || m.Expires != "Thu, 01 Jan 2037 00:00:00 GMT" || m.Metadata["9lives"] != "v" {
			t.Errorf("user metadata: %+v", m)
		}
		for _, c := range []struct{ key, rng string }{{"plain.txt", "bytes=1000-"}, {"empty", "bytes=3-9"}} {
			if g := read(t, b, c.key, c.rng, false); !g.BadRange || g.NotFound {
				t.Errorf("unsatisfiable %q %s: %+v", c.key, c.rng, g)
			}
		}
		// A range from the end of the blob: Azure answers 416, Azurite
		// a 206 without bytes; either way nothing is read. ("bytes=0-"
		// asks for the whole blob: no range is sent.)
		for _, c := range []struct{ key, rng string }{{"plain.txt", "bytes=39-"}, {"empty", "bytes=0-0"}, {"empty", "bytes=0-"}} {
			if g := read(t, b, c.key, c.rng, false); !g.BadRange && (g.Err || g.Length != 0 || g.Body != "") || g.NotFound {
				t.Errorf("range at the end %q %s: %+v", c.key, c.rng, g)
			}
		}
		missingNotFound(t, b)
	})

	// A container that is gone: NoSuchBucket (and not found) on GET and
	// HEAD: Azure names ContainerNotFound even to a HEAD.
	gone := s.NewContainer(t)
	s.DeleteContainer(t, gone)
	b, err := store.OpenWith(ctx, s.URL(gone, ""), store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, head := range []bool{false, true} {
		if g := read(t, b, "k", "", head); !g.Gone || !g.NotFound {
			t.Errorf("read in a deleted container (head=%v): %+v", head, g)
		}
	}
}

// eachPrefix runs fn as a subtest on the bucket url(prefix) opens, for no
// prefix and for "scoped".
func eachPrefix(t *testing.T, url func(prefix string) string, fn func(t *testing.T, b *store.Bucket)) {
	for _, prefix := range []string{"", "scoped"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			b, err := store.Open(context.Background(), url(prefix))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			fn(t, b)
		})
	}
}

// missingNotFound checks that a GET and a HEAD of a missing key are
// NotFound (and not a bucket that is gone).
func missingNotFound(t *testing.T, b *store.Bucket) {
	t.Helper()
	for _, head := range []bool{false, true} {
		if g := read(t, b, "missing", "", head); !g.NotFound || g.Gone {
			t.Errorf("missing key (head=%v): %+v", head, g)
		}
	}
}

// getMatches checks Gets of key (stored as body) for whole, ranged,
// open-ended and suffix ranges: each has the Meta want (with whole-second
// times when seconds is set: an answer's Last-Modified has no more) and the
// bytes its range selects; a suffix range answers with the Meta only
// (neither Azure nor gocloud's GCS reader takes one).
func getMatches(t *testing.T, b *store.Bucket, key, body string, want store.Meta, seconds bool) {
	t.Helper()
	if seconds {
		want.LastModified = want.LastModified.Truncate(time.Second)
	}
	for _, rng := range []string{"", "bytes=0-9", "bytes=5-", "bytes=10-1000", "bytes=0-0", "bytes=-4"} {
		off, end := rangeOf(rng, int64(len(body)))
		if rng != "" && rng != "bytes=-4" && off >= int64(len(body)) {
			continue // unsatisfiable: the callers check those
		}
		g := read(t, b, key, rng, false)
		if g.Err {
			t.Errorf("GET %q %s: %+v", key, rng, g)
			continue
		}
		if seconds {
			g.Meta.LastModified = g.Meta.LastModified.Truncate(time.Second)
		}
		if !reflect.DeepEqual(g.Meta, want) {
			t.Errorf("GET %q %s: Meta differs:\nget  %+v\nwant %+v", key, rng, g.Meta, want)
		}
		if rng == "bytes=-4" {
			if g.Body != "" || g.Offset != 0 || g.Length != 0 {
				t.Errorf("GET %q %s: %+v, want the Meta only", key, rng, g)
			}
			continue
		}
		if g.Body != body[off:end] || g.Offset != off || g.Length != end-off {
			t.Errorf("GET %q %s: body %q at %d+%d, want %q at %d+%d", key, rng, g.Body, g.Offset, g.Length, body[off:end], off, end-off)
		}
	}
}

// rangeOf is the part [off, end) of an object of size bytes that rng
// selects (rng as serve sends it: first-last, first-, or a suffix).
func rangeOf(rng string, size int64) (off, end int64) {
	switch rng {
	case "":
		return 0, size
	case "bytes=0-9":
		return 0, min(10, size)
	case "bytes=5-":
		return 5, size
	case "bytes=10-1000":
		return 10, min(1001, size)
	case "bytes=0-0":
		return 0, min(1, size)
	case "bytes=-4":
		return max(0, size-4), size
	}
	panic(rng)
}

// TestAzureOneRequestPerRead counts what reaches Azurite: a Get is one GET
// (a suffix range one HEAD: Azure takes none), a Head one HEAD, part 1 of
// a blob one GET, and OpenObject (a bucket origin's read) one GET.
func TestAzureOneRequestPerRead(t *testing.T) {
	s := azuritetest.Get(t)
	ctx := context.Background()
	name := s.NewContainer(t)
	p := reqlog.New(t, "http://"+s.Addr)
	b, err := store.Open(ctx, azuritetest.URLAt(p.Listener.Addr().String(), name, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "k", []byte("0123456789"), &blob.WriterOptions{Metadata: map[string]string{"m": "v"}}); err != nil {
		t.Fatal(err)
	}
	obj := "/" + azuritetest.Account + "/" + name + "/k"
	p.Take()
	for _, c := range []struct {
		name string
		do   func() error
		want []string
	}{
		{"Get", func() error { return get(ctx, b, "") }, []string{"GET " + obj}},
		{"Get range", func() error { return get(ctx, b, "bytes=2-5") }, []string{"GET " + obj}},
		{"Get open range", func() error { return get(ctx, b, "bytes=2-") }, []string{"GET " + obj}},
		{"Get suffix range", func() error { return get(ctx, b, "bytes=-3") }, []string{"HEAD " + obj}},
		{"Head", func() error { _, err := b.Head(ctx, "k"); return err }, []string{"HEAD " + obj}},
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
		}, []string{"GET " + obj}},
		{"HeadPart 1", func() error { _, err := b.HeadPart(ctx, "k", 1); return err }, []string{"HEAD " + obj}},
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
		}, []string{"GET " + obj}},
		{"Get missing", func() error {
			if err := get(ctx, b, "bytes=0-1", "none"); !store.IsNotFound(err) {
				t.Errorf("Get missing: %v", err)
			}
			return nil
		}, []string{"GET /" + azuritetest.Account + "/" + name + "/none"}},
	} {
		if err := c.do(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if got := p.Take(); !slices.Equal(got, c.want) {
			t.Errorf("%s: Azurite saw %q, want %q", c.name, got, c.want)
		}
	}
}

// get reads (and closes) a Get of key ("k" when none is given).
func get(ctx context.Context, b *store.Bucket, rng string, key ...string) error {
	k := "k"
	if len(key) > 0 {
		k = key[0]
	}
	o, err := b.Get(ctx, k, rng)
	if err != nil {
		return err
	}
	if o.Body != nil {
		_, _ = io.Copy(io.Discard, o.Body)
		o.Body.Close()
	}
	return nil
}

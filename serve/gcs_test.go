package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/gcstest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// gcsTarget opens a fresh bucket of the emulator s.
func gcsTarget(t *testing.T, s *gcstest.Server, name string) *store.Bucket {
	t.Helper()
	b, err := store.Open(context.Background(), s.URL(s.NewBucket(t, name), ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformanceGCS(t *testing.T) {
	s := gcstest.New(t)
	for _, mode := range []string{AddressingDomain, AddressingPath} {
		t.Run(mode, func(t *testing.T) {
			conformance(t, newEnv(t, gcsTarget(t, s, "conf-"+strings.ToLower(mode)), mode, nil))
		})
	}
}

// TestOneRequestPerAnswerGCS counts the requests that reach the GCS
// emulator through serve: a GET hit (whole, ranged, open-ended,
// conditional, part 1) is one GET of the object (the XML API), a HEAD one
// attributes request (the JSON API), a miss the one request whose 404
// starts it. A suffix range costs the attributes and a GET: gocloud takes
// no suffix range, so the size comes first. Headers and bytes are the
// stored ones (user metadata as x-amz-meta-*, a gzip body as stored).
func TestOneRequestPerAnswerGCS(t *testing.T) {
	leakCheck(t)
	s := gcstest.New(t)
	name := "target"
	target := gcsTarget(t, s, name)
	p := s
	o := newTestOrigin(t)
	o.set("fill", hundred)
	e := newEnv(t, target, AddressingDomain, originRules(o.URL))
	e.put("k", hundred, &blob.WriterOptions{
		ContentType: "text/plain; charset=utf-8", CacheControl: "max-age=60", ContentLanguage: "en",
		ContentDisposition: `attachment; filename="k.txt"`,
		Metadata:           map[string]string{"color": "blue", "note": "a b", "expires": "Thu, 01 Jan 2037 00:00:00 GMT"},
	})
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	_, _ = zw.Write([]byte(strings.Repeat(hundred, 20)))
	_ = zw.Close()
	gz := zbuf.String()
	e.put("page.gz", gz, &blob.WriterOptions{ContentType: "text/html", ContentEncoding: "gzip"})
	head := e.do("HEAD", "k")
	etag, lastMod := head.header.Get("ETag"), head.header.Get("Last-Modified")
	obj := func(key string) string { return "GET " + gcstest.ObjectPath(name, key) }
	attrs := func(key string) string { return "GET " + gcstest.MetadataPath(name, key) }
	upload := "POST /upload/storage/v1/b/" + name + "/o"
	p.Take()

	for _, c := range []struct {
		name, method, key string
		hdr               []string
		status            int
		body, crange      string
		want              []string
	}{
		{"GET hit", "GET", "k", nil, 200, hundred, "", []string{obj("k")}},
		{"HEAD hit", "HEAD", "k", nil, 200, "", "", []string{attrs("k")}},
		{"Range hit", "GET", "k", []string{"Range", "bytes=10-19"}, 206, hundred[10:20], "bytes 10-19/100", []string{obj("k")}},
		{"open Range hit", "GET", "k", []string{"Range", "bytes=95-"}, 206, hundred[95:], "bytes 95-99/100", []string{obj("k")}},
		{"Range past the end", "GET", "k", []string{"Range", "bytes=90-1000"}, 206, hundred[90:], "bytes 90-99/100", []string{obj("k")}},
		{"suffix Range hit", "GET", "k", []string{"Range", "bytes=-5"}, 206, hundred[95:], "bytes 95-99/100", []string{attrs("k"), obj("k")}},
		{"HEAD Range hit", "HEAD", "k", []string{"Range", "bytes=0-9"}, 206, "", "bytes 0-9/100", []string{attrs("k")}},
		{"304 If-None-Match", "GET", "k", []string{"If-None-Match", etag}, 304, "", "", []string{obj("k")}},
		{"304 If-Modified-Since", "GET", "k", []string{"If-Modified-Since", lastMod}, 304, "", "", []string{obj("k")}},
		{"412 If-Match", "GET", "k", []string{"If-Match", `"other"`}, 412, "", "", []string{obj("k")}},
		{"HEAD 412", "HEAD", "k", []string{"If-Match", `"other"`}, 412, "", "", []string{attrs("k")}},
		{"If-Match hit", "GET", "k", []string{"If-Match", etag}, 200, hundred, "", []string{obj("k")}},
		{"If-Range hit", "GET", "k", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, hundred[:10], "bytes 0-9/100", []string{obj("k")}},
		{"partNumber=1", "GET", "k?partNumber=1", nil, 206, hundred, "bytes 0-99/100", []string{obj("k")}},
		// (Accept-Encoding set: Go's client then does not gunzip.)
		{"gzip hit", "GET", "page.gz", []string{"Accept-Encoding", "gzip"}, 200, gz, "", []string{obj("page.gz")}},
		{"gzip Range hit", "GET", "page.gz", []string{"Accept-Encoding", "gzip", "Range", "bytes=0-9"}, 206, gz[:10], "", []string{obj("page.gz")}},
		{"HEAD miss", "HEAD", "none", nil, 404, "", "", []string{attrs("none")}},
		{"GET miss", "GET", "none", nil, 404, "", "", []string{obj("none")}},
	} {
		key, query, _ := strings.Cut(c.key, "?")
		u := e.url(key)
		if query != "" {
			u += "?" + query
		}
		r := doURL(t, c.method, u, c.hdr...)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, r.status, c.status, r.body)
		}
		if got := p.TakeStrings(); !slices.Equal(got, c.want) {
			t.Errorf("%s: the emulator saw %q, want %q", c.name, got, c.want)
		}
		if c.method == "GET" && (c.status == 200 || c.status == 206) && r.body != c.body {
			t.Errorf("%s: body %q, want %q", c.name, r.body, c.body)
		}
		if c.crange != "" && r.header.Get("Content-Range") != c.crange {
			t.Errorf("%s: Content-Range %q, want %q", c.name, r.header.Get("Content-Range"), c.crange)
		}
		if c.key == "k" && (c.status == 200 || c.status == 206) {
			for h, want := range map[string]string{
				"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "max-age=60", "Content-Language": "en",
				"Content-Disposition": `attachment; filename="k.txt"`, "Expires": "Thu, 01 Jan 2037 00:00:00 GMT",
				"X-Amz-Meta-Color": "blue", "X-Amz-Meta-Note": "a%20b", "ETag": etag, "Last-Modified": lastMod,
				"X-Ferry-Mirror": "hit",
			} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s: %s = %q, want %q", c.name, h, got, want)
				}
			}
		}
		if strings.HasPrefix(c.name, "gzip") && (r.header.Get("Content-Encoding") != "gzip" || r.header.Get("Content-Type") != "text/html") {
			t.Errorf("%s: %v", c.name, r.header)
		}
	}
	// A listing gives the ETag a HEAD and a GET give (the MD5).
	if r := doURL(t, "GET", e.ts.URL+"/?list-type=2&prefix=k"); r.status != 200 || !strings.Contains(r.body, "<Key>k</Key>") || !strings.Contains(r.body, "<ETag>"+strings.ReplaceAll(etag, `"`, "&#34;")+"</ETag>") {
		t.Errorf("listing: %d %s, want the ETag %s", r.status, r.body, etag)
	}
	p.Take()
	if !strings.HasPrefix(etag, `"`) || lastMod == "" {
		t.Errorf("HEAD: ETag %q, Last-Modified %q", etag, lastMod)
	}

	// A fill: the GET's 404 starts it, the commit writes the object (the
	// storage client's upload), and the next GET is a hit of one request.
	if r := e.do("GET", "fill"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Fatalf("fill: %d %v", r.status, r.header)
	}
	waitStored(t, target, "fill") // (its polls are attributes requests)
	got := p.TakeStrings()
	uploads := 0
	for _, r := range got[1:] {
		switch r {
		case upload:
			uploads++
		case attrs("fill"):
		default:
			uploads = -1
		}
	}
	if len(got) == 0 || got[0] != obj("fill") || uploads != 1 {
		t.Errorf("fill: the emulator saw %q, want the GET and one upload", got)
	}
	if r := e.do("GET", "fill"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "hit" {
		t.Errorf("hit after fill: %d %v", r.status, r.header)
	}
	if got := p.TakeStrings(); !slices.Equal(got, []string{obj("fill")}) {
		t.Errorf("hit after fill: the emulator saw %q", got)
	}
	if n := o.count.Load(); n != 3 {
		t.Errorf("%d origin requests, want 3 (a HEAD, a 404 and a fill)", n)
	}
}

// A target bucket that is gone answers NoSuchBucket (404), on GET and
// HEAD, not a miss, with GCS's answers to such reads.
func TestGCSBucketGone(t *testing.T) {
	gcstest.NoBuckets(t)
	b, err := store.OpenWith(context.Background(), "gs://gone", store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	o := newTestOrigin(t)
	o.set("k", "origin")
	e := newEnv(t, b, AddressingDomain, originRules(o.URL))
	if r := e.do("GET", "k"); r.status != 404 || s3Code(t, r.body) != "NoSuchBucket" {
		t.Errorf("GET: %d %s", r.status, r.body)
	}
	if r := e.do("HEAD", "k"); r.status != 404 || r.header.Get("X-Ferry-Mirror") == "fill" {
		t.Errorf("HEAD: %d %v", r.status, r.header)
	}
	if n := o.count.Load(); n != 0 {
		t.Errorf("%d origin requests for a gone bucket, want 0", n)
	}
}

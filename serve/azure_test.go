package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/azuritetest"
	"github.com/ferry-migrate/ferry/internal/reqlog"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// azureTarget opens a fresh container of the shared Azurite, reached at
// addr (Azurite itself when ""; a proxy in front of it otherwise).
func azureTarget(t *testing.T, addr string) (*store.Bucket, string) {
	t.Helper()
	s := azuritetest.Get(t)
	name := s.NewContainer(t)
	if addr == "" {
		addr = s.Addr
	}
	b, err := store.Open(context.Background(), azuritetest.URLAt(addr, name, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, name
}

func TestConformanceAzure(t *testing.T) {
	for _, mode := range []string{AddressingDomain, AddressingPath} {
		t.Run(mode, func(t *testing.T) {
			b, _ := azureTarget(t, "")
			conformance(t, newEnv(t, b, mode, nil))
		})
	}
}

// TestOneRequestPerAnswerAzure counts the requests that reach Azurite
// through serve: a GET hit (whole, ranged, open-ended, conditional, part 1)
// is one Get Blob, a HEAD one Get Blob Properties, a miss the one GET (or
// HEAD) whose 404 starts it. A suffix range costs a HEAD and a GET: Azure
// takes no suffix range, so the size comes first. Headers and bytes are
// the stored ones (user metadata as x-amz-meta-*, a gzip body as stored).
func TestOneRequestPerAnswerAzure(t *testing.T) {
	leakCheck(t)
	s := azuritetest.Get(t)
	p := reqlog.New(t, "http://"+s.Addr)
	target, name := azureTarget(t, strings.TrimPrefix(p.URL, "http://"))
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
	obj := func(key string) string { return "/" + azuritetest.Account + "/" + name + "/" + key }
	p.Take()

	for _, c := range []struct {
		name, method, key string
		hdr               []string
		status            int
		body, crange      string
		want              []string
	}{
		{"GET hit", "GET", "k", nil, 200, hundred, "", []string{"GET " + obj("k")}},
		{"HEAD hit", "HEAD", "k", nil, 200, "", "", []string{"HEAD " + obj("k")}},
		{"Range hit", "GET", "k", []string{"Range", "bytes=10-19"}, 206, hundred[10:20], "bytes 10-19/100", []string{"GET " + obj("k")}},
		{"open Range hit", "GET", "k", []string{"Range", "bytes=95-"}, 206, hundred[95:], "bytes 95-99/100", []string{"GET " + obj("k")}},
		{"Range past the end", "GET", "k", []string{"Range", "bytes=90-1000"}, 206, hundred[90:], "bytes 90-99/100", []string{"GET " + obj("k")}},
		{"suffix Range hit", "GET", "k", []string{"Range", "bytes=-5"}, 206, hundred[95:], "bytes 95-99/100", []string{"HEAD " + obj("k"), "GET " + obj("k")}},
		{"HEAD Range hit", "HEAD", "k", []string{"Range", "bytes=0-9"}, 206, "", "bytes 0-9/100", []string{"HEAD " + obj("k")}},
		{"304 If-None-Match", "GET", "k", []string{"If-None-Match", etag}, 304, "", "", []string{"GET " + obj("k")}},
		{"304 If-Modified-Since", "GET", "k", []string{"If-Modified-Since", lastMod}, 304, "", "", []string{"GET " + obj("k")}},
		{"412 If-Match", "GET", "k", []string{"If-Match", `"other"`}, 412, "", "", []string{"GET " + obj("k")}},
		{"HEAD 412", "HEAD", "k", []string{"If-Match", `"other"`}, 412, "", "", []string{"HEAD " + obj("k")}},
		{"If-Match hit", "GET", "k", []string{"If-Match", etag}, 200, hundred, "", []string{"GET " + obj("k")}},
		{"If-Range hit", "GET", "k", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, hundred[:10], "bytes 0-9/100", []string{"GET " + obj("k")}},
		{"partNumber=1", "GET", "k?partNumber=1", nil, 206, hundred, "bytes 0-99/100", []string{"GET " + obj("k")}},
		// (Accept-Encoding set: Go's client then does not gunzip.)
		{"gzip hit", "GET", "page.gz", []string{"Accept-Encoding", "gzip"}, 200, gz, "", []string{"GET " + obj("page.gz")}},
		{"gzip Range hit", "GET", "page.gz", []string{"Accept-Encoding", "gzip", "Range", "bytes=0-9"}, 206, gz[:10], "", []string{"GET " + obj("page.gz")}},
		{"HEAD miss", "HEAD", "none", nil, 404, "", "", []string{"HEAD " + obj("none")}},
		{"GET miss", "GET", "none", nil, 404, "", "", []string{"GET " + obj("none")}},
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
		if got := p.Take(); !slices.Equal(got, c.want) {
			t.Errorf("%s: Azurite saw %q, want %q", c.name, got, c.want)
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
	if !strings.HasPrefix(etag, `"`) || lastMod == "" {
		t.Errorf("HEAD: ETag %q, Last-Modified %q", etag, lastMod)
	}

	// A fill: the GET's 404 starts it, the commit writes the blob (the
	// SDK's upload), and the next GET is a hit of one request.
	if r := e.do("GET", "fill"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Fatalf("fill: %d %v", r.status, r.header)
	}
	p.WaitFor(t, "PUT "+obj("fill"))
	if got := p.Take(); !slices.Equal(got, []string{"GET " + obj("fill"), "PUT " + obj("fill")}) {
		t.Errorf("fill: Azurite saw %q, want the GET and the upload's PUT", got)
	}
	waitStored(t, target, "fill") // the PUT was seen, now it is committed
	p.Take()
	if r := e.do("GET", "fill"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "hit" {
		t.Errorf("hit after fill: %d %v", r.status, r.header)
	}
	if got := p.Take(); !slices.Equal(got, []string{"GET " + obj("fill")}) {
		t.Errorf("hit after fill: Azurite saw %q", got)
	}
	if n := o.count.Load(); n != 3 {
		t.Errorf("%d origin requests, want 3 (a HEAD, a 404 and a fill)", n)
	}
}

// A target container that is gone answers NoSuchBucket (404), on GET and
// HEAD, not a miss.
func TestAzureContainerGone(t *testing.T) {
	s := azuritetest.Get(t)
	name := s.NewContainer(t)
	s.DeleteContainer(t, name)
	b, err := store.OpenWith(context.Background(), s.URL(name, ""), store.Options{SkipCheck: true})
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
		t.Errorf("%d origin requests for a gone container, want 0", n)
	}
}

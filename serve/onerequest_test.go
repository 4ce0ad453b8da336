package serve

import (
	"bytes"
	"compress/gzip"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob"
)

// oneRequestPerAnswer stores "k" (content headers and user metadata) and
// "page.gz" (gzip-compressed) in e's target and checks, for hits, ranges,
// conditional requests, part 1 and misses through serve, the status, body
// and headers of each answer, and that backend (its name in messages) saw
// exactly the requests getReq and headReq name for it: getReq(key) is the one
// request of a GET hit of key, headReq(key) that of a HEAD; take returns the
// requests it saw since the last call. A suffix range costs a headReq and a
// getReq (neither Azure nor gocloud's GCS reader takes one). It returns the
// ETag the HEAD of "k" gave.
func oneRequestPerAnswer(t *testing.T, e *env, backend string, take func() []string, getReq, headReq func(key string) string) string {
	t.Helper()
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
	take()

	for _, c := range []struct {
		name, method, key string
		hdr               []string
		status            int
		body, crange      string
		want              []string
	}{
		{"GET hit", "GET", "k", nil, 200, hundred, "", []string{getReq("k")}},
		{"HEAD hit", "HEAD", "k", nil, 200, "", "", []string{headReq("k")}},
		{"Range hit", "GET", "k", []string{"Range", "bytes=10-19"}, 206, hundred[10:20], "bytes 10-19/100", []string{getReq("k")}},
		{"open Range hit", "GET", "k", []string{"Range", "bytes=95-"}, 206, hundred[95:], "bytes 95-99/100", []string{getReq("k")}},
		{"Range past the end", "GET", "k", []string{"Range", "bytes=90-1000"}, 206, hundred[90:], "bytes 90-99/100", []string{getReq("k")}},
		{"suffix Range hit", "GET", "k", []string{"Range", "bytes=-5"}, 206, hundred[95:], "bytes 95-99/100", []string{headReq("k"), getReq("k")}},
		{"HEAD Range hit", "HEAD", "k", []string{"Range", "bytes=0-9"}, 206, "", "bytes 0-9/100", []string{headReq("k")}},
		{"304 If-None-Match", "GET", "k", []string{"If-None-Match", etag}, 304, "", "", []string{getReq("k")}},
		{"304 If-Modified-Since", "GET", "k", []string{"If-Modified-Since", lastMod}, 304, "", "", []string{getReq("k")}},
		{"412 If-Match", "GET", "k", []string{"If-Match", `"other"`}, 412, "", "", []string{getReq("k")}},
		{"HEAD 412", "HEAD", "k", []string{"If-Match", `"other"`}, 412, "", "", []string{headReq("k")}},
		{"If-Match hit", "GET", "k", []string{"If-Match", etag}, 200, hundred, "", []string{getReq("k")}},
		{"If-Range hit", "GET", "k", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, hundred[:10], "bytes 0-9/100", []string{getReq("k")}},
		{"partNumber=1", "GET", "k?partNumber=1", nil, 206, hundred, "bytes 0-99/100", []string{getReq("k")}},
		// (Accept-Encoding set: Go's client then does not gunzip.)
		{"gzip hit", "GET", "page.gz", []string{"Accept-Encoding", "gzip"}, 200, gz, "", []string{getReq("page.gz")}},
		{"gzip Range hit", "GET", "page.gz", []string{"Accept-Encoding", "gzip", "Range", "bytes=0-9"}, 206, gz[:10], "", []string{getReq("page.gz")}},
		{"HEAD miss", "HEAD", "none", nil, 404, "", "", []string{headReq("none")}},
		{"GET miss", "GET", "none", nil, 404, "", "", []string{getReq("none")}},
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
		if got := take(); !slices.Equal(got, c.want) {
			t.Errorf("%s: %s saw %q, want %q", c.name, backend, got, c.want)
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
	return etag
}

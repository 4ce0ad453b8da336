package serve

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/rules"
)

// missOrigin answers the keys of TestMiss: 100-byte objects with headers
// under m/ and nohead/, a chunked one, one that dies mid-body, a redirect,
// a 503; 404 otherwise. It counts GETs and HEADs and keeps the last GET's
// headers.
type missOrigin struct {
	*httptest.Server
	gets, heads atomic.Int64
	lastHeader  atomic.Pointer[http.Header]
	die         chan struct{} // m/broken breaks off once this is closed
}

func newMissOrigin(t *testing.T, lm time.Time) *missOrigin {
	o := &missOrigin{die: make(chan struct{})}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			o.heads.Add(1)
		} else {
			o.gets.Add(1)
			h := r.Header.Clone()
			o.lastHeader.Store(&h)
		}
		p := r.URL.Path
		switch {
		case p == "/m/redirect":
			http.Redirect(w, r, "http://elsewhere.example/x", http.StatusFound)
		case p == "/m/failed":
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.HasPrefix(p, "/m/chunked"):
			_, _ = io.WriteString(w, hundred[:10])
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, hundred[10:])
		case p == "/m/broken":
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, hundred[:40])
			w.(http.Flusher).Flush()
			<-o.die
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		case strings.HasSuffix(p, ".png") || p == "/nohead/a":
			h := w.Header()
			h.Set("Content-Type", "image/png")
			h.Set("ETag", `"abc"`)
			h.Set("Last-Modified", lm.Format(http.TimeFormat))
			h.Set("Cache-Control", "public")
			h.Set("Expires", "Thu, 01 Jan 2037 00:00:00 GMT")
			h.Set("Content-Length", "100")
			if r.Method != http.MethodHead {
				_, _ = io.WriteString(w, hundred)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// TestMiss: how serve answers each thing the mirror can say about a miss,
// through a real mirror and origin.
func TestMiss(t *testing.T) {
	leakCheck(t)
	b, _ := fileTarget(t)
	lm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	o := newMissOrigin(t, lm)
	set := &rules.Set{Rules: []rules.Rule{
		{KeyPrefix: "nohead/", Origin: o.URL + "/", FollowRedirects: true, MirrorHead: false},
		{KeyPrefix: "m/redirect", Origin: o.URL + "/", FollowRedirects: false, MirrorHead: true},
		{KeyPrefix: "m/refused", Origin: o.URL + "/", ReplaceKeyWith: "../${key}", FollowRedirects: true, MirrorHead: true},
		{KeyPrefix: "m/", Origin: o.URL + "/", FollowRedirects: true, MirrorHead: true, Headers: rules.Headers{Pass: []string{"Cookie"}}},
	}}
	e := newEnv(t, b, AddressingDomain, set)

	r := e.do("GET", "m/a.png", "Authorization", "secret", "Cookie", "c=1")
	if r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" ||
		r.header.Get("Content-Type") != "image/png" || r.header.Get("ETag") != `"abc"` ||
		r.header.Get("Last-Modified") != lm.Format(http.TimeFormat) || r.header.Get("Content-Length") != "100" {
		t.Errorf("fill: %d %v", r.status, r.header)
	}
	// The client's headers go to the mirror as given; the rule's policy
	// (in rules.OriginRequest) decides what reaches the origin.
	if h := *o.lastHeader.Load(); h.Get("Authorization") != "" || h.Get("Cookie") != "c=1" {
		t.Errorf("origin headers: %v", h)
	}

	r = e.do("GET", "m/range.png", "Range", "bytes=-10")
	if r.status != 206 || r.body != hundred[90:] || r.header.Get("Content-Range") != "bytes 90-99/100" || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Errorf("range on a fill: %d %q %v", r.status, r.body, r.header)
	}
	if r := e.do("GET", "m/inm.png", "If-None-Match", `"abc"`); r.status != 304 {
		t.Errorf("If-None-Match on a fill: %d", r.status)
	}
	if r := e.do("GET", "m/im.png", "If-Match", `"zzz"`); r.status != 412 {
		t.Errorf("If-Match on a fill: %d", r.status)
	}
	r = e.do("GET", "m/chunked")
	if r.status != 200 || r.body != hundred || r.header.Get("Content-Length") != "" {
		t.Errorf("chunked fill: %d %q %v", r.status, r.body, r.header)
	}
	if r := e.do("GET", "m/chunked2", "Range", "bytes=0-9"); r.status != 200 || r.body != hundred {
		t.Errorf("range on a fill of unknown size is ignored: %d", r.status)
	}

	r = e.do("HEAD", "m/head.png")
	if r.status != 200 || r.header.Get("X-Ferry-Mirror") != "origin" || r.header.Get("Content-Length") != "100" {
		t.Errorf("mirror_head: %d %v", r.status, r.header)
	}
	heads := o.heads.Load()
	if r := e.do("HEAD", "nohead/a"); r.status != 404 || o.heads.Load() != heads {
		t.Errorf("mirror_head false: %d, origin heads %d", r.status, o.heads.Load()-heads)
	}

	if r := e.do("GET", "m/nothere"); r.status != 404 || s3Code(t, r.body) != "NoSuchKey" || r.header.Get("X-Ferry-Mirror") != "not_found" {
		t.Errorf("origin 404: %d %s", r.status, r.body)
	}
	gets := o.gets.Load()
	if r := e.do("GET", "other/x"); r.status != 404 || o.gets.Load() != gets || r.header.Get("X-Ferry-Mirror") != "" {
		t.Errorf("no rule: %d, fills %d", r.status, o.gets.Load()-gets)
	}
	if r := e.do("GET", "m/failed"); r.status != 424 || s3Code(t, r.body) != "MirrorFailed" {
		t.Errorf("failed: %d %s", r.status, r.body)
	}
	gets = o.gets.Load()
	if r := e.do("GET", "m/refused"); r.status != 400 || o.gets.Load() != gets {
		t.Errorf("refused key: %d %s", r.status, r.body)
	}

	// Redirects pass through (the client does not follow them here).
	req, _ := http.NewRequest("GET", e.url("m/redirect"), nil)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "http://elsewhere.example/x" {
		t.Errorf("redirect: %d %v", resp.StatusCode, resp.Header)
	}

	// A fill that fails after the headers were sent is a broken transfer,
	// never a clean short 200.
	resp, err = http.Get(e.url("m/broken"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 40)); err != nil {
		t.Fatalf("broken fill: the first 40 bytes: %v", err)
	}
	close(o.die)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("broken fill: status %d, read error %v (want unexpected EOF)", resp.StatusCode, err)
	}
}

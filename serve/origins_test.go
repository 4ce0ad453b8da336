package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// newMetricsEnv is newEnv with the mirror's events feeding the server's
// metrics, as serve.Run wires them.
func newMetricsEnv(t *testing.T, target *store.Bucket, set *rules.Set) *env {
	t.Helper()
	metrics := NewMetrics()
	m, err := mirror.New(mirror.Options{Target: target, SpoolDir: t.TempDir(), Via: DefaultVia,
		IdleTimeout: 5 * time.Second, Observer: metrics.MirrorObserver()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv, err := New(Options{Target: target, Mirror: m, Metrics: metrics,
		Settings: Settings{Addressing: AddressingDomain, Rules: set}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, target: target, srv: srv, m: m, mode: AddressingDomain, ts: httptest.NewServer(srv.Handler())}
	t.Cleanup(e.ts.Close)
	return e
}

// metric returns the value of the sample name{labels} ("" when absent).
func (e *env) metric(name string, labels ...string) string {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
next:
	for _, s := range parseExposition(e.t, rec.Body.String()) {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return s.value
	}
	return ""
}

// countingHandler counts the requests h answers.
func countingHandler(n *atomic.Int64, h http.HandlerFunc) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
}

// A miss whose first origin answers 503 is filled from the second; the
// metrics say so.
func TestMissFailover(t *testing.T) {
	leakCheck(t)
	b, _ := fileTarget(t)
	var primaryGets atomic.Int64
	primary := countingHandler(&primaryGets, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	defer primary.Close()
	second := newTestOrigin(t)
	second.set("site/a.txt", hundred)
	set := &rules.Set{Rules: []rules.Rule{{FollowRedirects: true, MirrorHead: true, OriginList: []rules.Origin{
		{URL: primary.URL + "/"}, {URL: second.URL + "/site/"},
	}}}}
	e := newMetricsEnv(t, b, set)
	if r := e.do("GET", "a.txt"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Fatalf("GET: %d %q %v", r.status, r.body, r.header)
	}
	waitStored(t, b, "a.txt")
	if r := e.do("GET", "a.txt"); r.status != 200 || r.header.Get("X-Ferry-Mirror") != "hit" {
		t.Fatalf("second GET: %d %v", r.status, r.header)
	}
	if primaryGets.Load() != 1 || second.gets.Load() != 1 {
		t.Fatalf("origin GETs %d and %d", primaryGets.Load(), second.gets.Load())
	}
	if f, a1, a2 := e.metric("ferry_mirror_failovers_total", "origin", "1", "reason", "status"),
		e.metric("ferry_mirror_origin_answers_total", "origin", "1"),
		e.metric("ferry_mirror_origin_answers_total", "origin", "2"); f != "1" || a1 != "0" || a2 != "1" {
		t.Fatalf("failovers %s, answers by origin 1 %s and 2 %s", f, a1, a2)
	}
}

// pass_status: the origin's status, headers and body reach the client,
// nothing is stored, and the fill is counted as passed.
func TestMissPassStatus(t *testing.T) {
	leakCheck(t)
	b, dir := fileTarget(t)
	const page = "<h1>no hotlinking</h1>"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Set-Cookie", "s=1")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, page)
	}))
	defer origin.Close()
	set := &rules.Set{Rules: []rules.Rule{{Origin: origin.URL + "/", FollowRedirects: true, MirrorHead: true, PassStatus: []int{403}}}}
	e := newMetricsEnv(t, b, set)
	r := e.do("GET", "img/a.png")
	if r.status != 403 || r.body != page || r.header.Get("Content-Type") != "text/html" ||
		r.header.Get("X-Ferry-Mirror") != "origin" || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("GET: %d %q %v", r.status, r.body, r.header)
	}
	if r := e.do("HEAD", "img/a.png"); r.status != 403 || r.body != "" || r.header.Get("Content-Length") != fmt.Sprint(len(page)) {
		t.Fatalf("HEAD: %d %q %v", r.status, r.body, r.header)
	}
	assertEmptyDir(t, dir)
	if v := e.metric("ferry_mirror_fills_total", "result", "passed"); v != "1" {
		t.Fatalf("fills passed = %q", v)
	}
	if v := e.metric("ferry_serve_requests_total", "method", "GET", "outcome", "origin", "code", "403"); v != "1" {
		t.Fatalf("requests GET origin 403 = %q", v)
	}
}

// store: false: every GET streams from the origin (ranges too), nothing is
// stored, and the proxied answers are counted.
func TestMissStoreFalse(t *testing.T) {
	leakCheck(t)
	b, dir := fileTarget(t)
	o := newTestOrigin(t)
	o.set("api/x", hundred)
	set := &rules.Set{Rules: []rules.Rule{{Origin: o.URL + "/", FollowRedirects: true, MirrorHead: true, NoStore: true}}}
	e := newMetricsEnv(t, b, set)
	for range 2 {
		if r := e.do("GET", "api/x"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "origin" {
			t.Fatalf("GET: %d %q %v", r.status, r.body, r.header)
		}
	}
	r := e.do("GET", "api/x", "Range", "bytes=10-19")
	if r.status != 206 || r.body != hundred[10:20] || r.header.Get("Content-Range") != "bytes 10-19/100" {
		t.Fatalf("Range: %d %q %v", r.status, r.body, r.header)
	}
	if o.gets.Load() != 3 {
		t.Fatalf("origin GETs %d, want 3", o.gets.Load())
	}
	assertEmptyDir(t, dir)
	if v, f := e.metric("ferry_mirror_proxied_total"), e.metric("ferry_mirror_fills_total", "result", "stored"); v != "3" || f != "0" {
		t.Fatalf("proxied %q, fills stored %q", v, f)
	}
}

// when_headers: only requests that carry the header are mirrored; the
// others are misses without a rule (404, no origin request).
func TestMissWhenHeaders(t *testing.T) {
	leakCheck(t)
	b, _ := fileTarget(t)
	o := newTestOrigin(t)
	o.set("a.txt", hundred)
	set := &rules.Set{Rules: []rules.Rule{{Origin: o.URL + "/", FollowRedirects: true, MirrorHead: true,
		WhenHeaders: []rules.HeaderValue{{Name: "X-Client", Value: "app-a"}}}}}
	e := newMetricsEnv(t, b, set)
	for _, m := range []string{"GET", "HEAD"} {
		if r := e.do(m, "a.txt", "X-Client", "app-b"); r.status != 404 || r.header.Get("X-Ferry-Mirror") != "" {
			t.Fatalf("%s, condition unmet: %d %v", m, r.status, r.header)
		}
	}
	if o.count.Load() != 0 {
		t.Fatalf("origin asked %d times for requests no rule takes", o.count.Load())
	}
	if v := e.metric("ferry_serve_requests_total", "method", "GET", "outcome", "no_rule", "code", "404"); v != "1" {
		t.Fatalf("no_rule GETs = %q", v)
	}
	if r := e.do("GET", "a.txt", "X-Client", "app-a"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Fatalf("GET, condition met: %d %v", r.status, r.header)
	}
}

// A Range GET far into a cold object is answered (206, the right bytes)
// while the fill is held near the start; the fill then stores the object.
// A video player's open-ended range (bytes=A-, to the end of the object) is
// answered the same way.
func TestMissRangeAhead(t *testing.T) {
	const size = 64 << 20
	marker := bytes.Repeat([]byte("ferry!"), 10000)
	const off = size - 60000 // the marker ends the object
	for _, c := range []struct{ name, rng string }{
		{"bounded", fmt.Sprintf("bytes=%d-%d", off, size-1)},
		{"open-ended", fmt.Sprintf("bytes=%d-", off)},
	} {
		t.Run(c.name, func(t *testing.T) {
			leakCheck(t)
			missRangeAhead(t, size, off, marker, c.rng)
		})
	}
}

func missRangeAhead(t *testing.T, size, off int64, marker []byte, rng string) {
	b, _ := fileTarget(t)
	name := filepath.Join(t.TempDir(), "video.mp4")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(marker, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	gate := make(chan struct{})
	var full, ranged atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(name)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("Range") != "" {
			ranged.Add(1)
			http.ServeContent(w, r, "", time.Time{}, f)
			return
		}
		full.Add(1)
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", fmt.Sprint(size))
		_, _ = io.CopyN(w, f, 1<<20)
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		_, _ = io.Copy(w, f)
	}))
	defer origin.Close()
	e := newMetricsEnv(t, b, &rules.Set{Rules: []rules.Rule{{Origin: origin.URL + "/", FollowRedirects: true, MirrorHead: true}}})

	r := e.do("GET", "video.mp4", "Range", rng)
	close(gate) // only now can the fill go past its first MiB
	want := fmt.Sprintf("bytes %d-%d/%d", off, size-1, size)
	if r.status != 206 || r.body != string(marker) || r.header.Get("Content-Range") != want || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Fatalf("Range: %d (%d bytes) %v", r.status, len(r.body), r.header)
	}
	eventually(t, "the fill to store video.mp4", func() bool {
		ok, _ := b.Exists(context.Background(), "video.mp4")
		return ok
	})
	if full.Load() != 1 || ranged.Load() != 1 {
		t.Fatalf("origin GETs: %d full, %d ranged", full.Load(), ranged.Load())
	}
	if v := e.metric("ferry_mirror_range_requests_total", "result", "served"); v != "1" {
		t.Fatalf("ranged served = %q", v)
	}
	attrs, err := b.Attributes(context.Background(), "video.mp4")
	if err != nil || attrs.Size != size {
		t.Fatalf("stored: %v, %v", attrs, err)
	}
}

// assertEmptyDir fails when a file target's directory holds any file (the
// directories fileblob makes for a write may stay behind).
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) > 0 {
		t.Fatalf("the target holds %s", strings.Join(names, ", "))
	}
}

// A primary that breaks off mid-body after bytes reached the client is not
// retried on the second origin: the client sees a broken transfer, nothing
// is stored.
func TestMissFailoverNotAfterBytes(t *testing.T) {
	leakCheck(t)
	b, dir := fileTarget(t)
	o := newMissOrigin(t, time.Now())
	var secondGets atomic.Int64
	second := countingHandler(&secondGets, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, hundred)
	})
	defer second.Close()
	set := &rules.Set{Rules: []rules.Rule{{FollowRedirects: true, MirrorHead: true,
		FailoverOn: []string{"network", "timeout", "5xx", "404"},
		OriginList: []rules.Origin{{URL: o.URL + "/"}, {URL: second.URL + "/"}}}}}
	e := newMetricsEnv(t, b, set)
	resp, err := http.Get(e.url("m/broken"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 40)); err != nil {
		t.Fatalf("the first 40 bytes: %v", err)
	}
	close(o.die)
	if _, err := io.ReadAll(resp.Body); resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("status %d, read error %v: want a broken transfer", resp.StatusCode, err)
	}
	eventually(t, "the fill to end", func() bool { return e.m.InFlight() == 0 })
	if secondGets.Load() != 0 {
		t.Fatalf("the second origin was asked %d times", secondGets.Load())
	}
	assertEmptyDir(t, dir)
	if v := e.metric("ferry_mirror_failovers_total", "origin", "1", "reason", "network"); v != "0" {
		t.Fatalf("failovers = %q", v)
	}
}

package serve

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// logLines receives an access log, one JSON line per Write (slog's handlers
// write each record with one call). Tests wait for the line: the response
// can reach the client before the handler has logged it.
type logLines chan []byte

func (l logLines) Write(p []byte) (int, error) {
	l <- bytes.Clone(p)
	return len(p), nil
}

// next returns the next line, decoded.
func (l logLines) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case b := <-l:
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("access log line is not JSON: %v\n%s", err, b)
		}
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no access log line within 30s")
		return nil
	}
}

// TestOutcomeOneName: every outcome has one name, the same in the
// X-Ferry-Mirror header (when sent), the access log's "mirror" field and
// the "outcome" label of ferry_serve_requests_total.
func TestOutcomeOneName(t *testing.T) {
	leakCheck(t)
	b, _ := fileTarget(t)
	if err := b.WriteAll(t.Context(), "there", []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	o := newMissOrigin(t, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	set := &rules.Set{Rules: []rules.Rule{
		{KeyPrefix: "nohead/", Origin: o.URL + "/", FollowRedirects: true, MirrorHead: false},
		{KeyPrefix: "m/redirect", Origin: o.URL + "/", FollowRedirects: false, MirrorHead: true},
		{KeyPrefix: "m/", Origin: o.URL + "/", FollowRedirects: true, MirrorHead: true},
	}}
	m, err := mirror.New(mirror.Options{Target: b, SpoolDir: t.TempDir(), Via: DefaultVia})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	logs := make(logLines, 100)
	srv, err := New(Options{Target: b, Mirror: m,
		AccessLog: slog.New(slog.NewJSONHandler(logs, nil)),
		Settings:  Settings{Addressing: AddressingDomain, Rules: set}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, c := range []struct {
		method, path string
		status       int
		outcome      string
		header       bool // X-Ferry-Mirror is sent
	}{
		{"GET", "/there", 200, outcomeHit, true},
		{"GET", "/m/a.png", 200, outcomeFill, true},
		{"HEAD", "/m/b.png", 200, outcomeOrigin, true},
		{"GET", "/m/redirect", 302, outcomeOrigin, true},
		{"GET", "/m/nothere", 404, outcomeNotFound, true},
		{"GET", "/other/x", 404, outcomeNoRule, false},
		{"HEAD", "/nohead/x", 404, outcomeNoRule, false},
		{"PUT", "/m/a.png", 405, outcomeRefused, false},
		{"GET", "/m/failed", 424, outcomeError, false},
	} {
		method := c.method
		if method != "GET" && method != "HEAD" {
			method = "other"
		}
		counter := srv.metrics.requests.WithLabelValues(method, c.outcome, statusText(c.status))
		before := testutil.ToFloat64(counter)
		req, _ := http.NewRequest(c.method, ts.URL+c.path, nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		name := c.method + " " + c.path
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, c.status)
		}
		if got := resp.Header.Get("X-Ferry-Mirror"); c.header && got != c.outcome || !c.header && got != "" {
			t.Errorf("%s: X-Ferry-Mirror %q, want %q (sent: %v)", name, got, c.outcome, c.header)
		}
		// The metric is counted before the line is logged.
		if l := logs.next(t); l["mirror"] != c.outcome || l["method"] != c.method {
			t.Errorf("%s: access log method=%v mirror=%v, want %q", name, l["method"], l["mirror"], c.outcome)
		}
		if got := testutil.ToFloat64(counter) - before; got != 1 {
			t.Errorf("%s: ferry_serve_requests_total{outcome=%q} went up by %v, want 1", name, c.outcome, got)
		}
	}
}

// TestAccessLogFields: the JSON access line gives the duration in seconds
// (a number) and names the host, the user agent and the query, like caddy's.
func TestAccessLogFields(t *testing.T) {
	leakCheck(t)
	b, _ := fileTarget(t)
	if err := b.WriteAll(t.Context(), "k", []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	logs := make(logLines, 10)
	srv, err := New(Options{Target: b, AccessLog: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/k?v=1&x=y", nil)
	req.Host = "www.example.com"
	req.Header.Set("User-Agent", "curl/8.5.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	l := logs.next(t)
	for k, want := range map[string]any{
		"msg": "request", "method": "GET", "host": "www.example.com", "key": "k", "query": "v=1&x=y",
		"user_agent": "curl/8.5.0", "status": 200.0, "bytes": 1.0, "mirror": "hit",
	} {
		if l[k] != want {
			t.Errorf("access log %s = %#v, want %#v", k, l[k], want)
		}
	}
	d, ok := l["duration"].(float64)
	if !ok || d <= 0 || d > 3600 {
		t.Errorf("duration %#v: want a number of seconds", l["duration"])
	}
	for _, k := range []string{"request_id", "remote"} {
		if s, _ := l[k].(string); s == "" {
			t.Errorf("access log without %s: %v", k, l)
		}
	}
}

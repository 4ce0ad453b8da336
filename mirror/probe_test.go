package mirror

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
)

// recorded is what an origin saw of one request.
type recorded struct {
	method, uri, host string
	header            http.Header
}

// recordingOrigin serves .../moved as a redirect to /dir/a.jpg, /private/x
// as a redirect to a loopback address, /dir/a.jpg, and 404 otherwise; it
// records every request.
func recordingOrigin(t *testing.T) (*httptest.Server, func() []recorded) {
	var mu sync.Mutex
	var seen []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, recorded{r.Method, r.RequestURI, r.Host, r.Header.Clone()})
		mu.Unlock()
		switch p := r.URL.Path; {
		case strings.HasSuffix(p, "/moved"):
			http.Redirect(w, r, "/dir/a.jpg", http.StatusFound)
		case p == "/private/x":
			http.Redirect(w, r, "http://127.0.0.1:1/x", http.StatusFound) // another port of a loopback address
		case p == "/dir/a.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write([]byte("jpeg"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]recorded(nil), seen...)
	}
}

// Probe sends what a fill sends (as a HEAD) and reports the answer as it
// is: a redirect followed or passed through, a 404, a refused redirect; a
// bucket origin answers with the object's Meta.
func TestProbe(t *testing.T) {
	leakCheck(t)
	ctx := context.Background()
	o, seen := recordingOrigin(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x", "k"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	set := &rules.Set{Rules: []rules.Rule{
		{KeyPrefix: "pass/", Origin: o.URL + "/", FollowRedirects: false},
		{KeyPrefix: "bkt/", Origin: "file://" + dir, ReplaceKeyPrefixWith: "x/"},
		{KeyPrefix: "private/", Origin: o.URL + "/", FollowRedirects: true},
		{Origin: o.URL + "/", FollowRedirects: true, Headers: rules.Headers{Pass: []string{"a-header"}, Set: []rules.HeaderValue{{Name: "c-header", Value: "3"}}}},
	}}
	opts := Options{Via: "ferry-probe"}
	client := http.Header{"A-Header": {"1"}, "Authorization": {"secret"}}

	// The probe's request is the fill's request but for the method.
	e := newEnv(t, targets[0].open(t), func(mo *Options) { mo.Via = opts.Via })
	if _, err := e.fill(ctx, Request{Key: "dir/a.jpg", Rules: set, Header: client}); err != nil {
		t.Fatal(err)
	}
	p, err := Probe(ctx, opts, Request{Key: "dir/a.jpg", Rules: set, Header: client})
	if err != nil || p.Status != 200 || p.StatusText != "200 OK" || !p.OK() || p.Rule != 3 || p.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("probe: %+v %v", p, err)
	}
	got := seen()
	if len(got) != 2 || got[0].method != "GET" || got[1].method != "HEAD" {
		t.Fatalf("origin saw %+v", got)
	}
	got[1].method = "GET"
	if !reflect.DeepEqual(got[0], got[1]) || got[1].header.Get("Via") != "1.1 ferry-probe" || got[1].header.Get("Authorization") != "" {
		t.Fatalf("fill request %+v\nprobe request %+v", got[0], got[1])
	}

	if p, err := Probe(ctx, opts, Request{Key: "moved", Rules: set}); err != nil || p.Redirects != 1 || p.Status != 200 || !strings.HasSuffix(p.URL, "/dir/a.jpg") {
		t.Fatalf("redirect followed: %+v %v", p, err)
	}
	if p, err := Probe(ctx, opts, Request{Key: "pass/moved", Rules: set}); err != nil || !p.Passed || p.Status != 302 ||
		p.Header.Get("Location") != "/dir/a.jpg" || !p.OK() {
		t.Fatalf("redirect passed through: %+v %v", p, err)
	}
	if p, err := Probe(ctx, opts, Request{Key: "nothing", Rules: set}); err != nil || p.Status != 404 || p.OK() {
		t.Fatalf("404: %+v %v", p, err)
	}
	if _, err := Probe(ctx, opts, Request{Key: "private/x", Rules: set}); failedReason(err) != "redirect_blocked" {
		t.Fatalf("redirect to a private address: %v", err)
	}
	if p, err := Probe(ctx, opts, Request{Key: "bkt/k", Rules: set}); err != nil || p.Meta == nil || p.Meta.Size != 4 || !p.OK() {
		t.Fatalf("bucket origin: %+v %v", p, err)
	}
	if _, err := Probe(ctx, opts, Request{Key: "bkt/none", Rules: set}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bucket origin, missing key: %v", err)
	}
}

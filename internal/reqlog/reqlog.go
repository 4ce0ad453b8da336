// Package reqlog is a test helper: a reverse proxy in front of a server
// (MinIO, Azurite) that records every request reaching it, so a test can
// count what one answer cost the backend.
package reqlog

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// Proxy forwards to its backend and records each request as "METHOD /path".
type Proxy struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

// New starts a Proxy in front of endpoint (a URL such as
// "http://127.0.0.1:9000"), closed when t ends.
func New(t testing.TB, endpoint string) *Proxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{DisableCompression: true}
	p := &Proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.URL.Path)
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// Take returns the requests seen since the last Take.
func (p *Proxy) Take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen
	p.seen = nil
	return s
}

// WaitFor waits until a request equal to want has been seen (a write that
// goes on after the client's answer), failing t after 20 s.
func (p *Proxy) WaitFor(t testing.TB, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		ok := slices.Contains(p.seen, want)
		p.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never reached the backend", want)
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// originRequest is what the recording origin saw of one request.
type originRequest struct {
	Method, URI, Host string
	Header            http.Header
}

// `ferry rules test KEY --fetch` sends the request `ferry serve` sends to
// fill KEY (as a HEAD): the same URL, Host, headers, Via token and
// User-Agent, and the same address policy for redirects.
func TestRulesTestFetchSendsTheFillRequest(t *testing.T) {
	var mu sync.Mutex
	var seen []originRequest
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, originRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone()})
		mu.Unlock()
		switch r.URL.Path {
		case "/dir1/img/a b+c.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write([]byte("jpeg"))
		case "/dir1/img/private":
			http.Redirect(w, r, "http://127.0.0.1:1/x", http.StatusFound) // another port of a loopback address
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	requests := func() []originRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]originRequest(nil), seen...)
	}

	dir := t.TempDir()
	listen := loopbackAddr(t)
	config := filepath.Join(dir, "ferry.yaml")
	err := os.WriteFile(config, []byte(fmt.Sprintf(`target: %s
state_dir: %s
serve:
  listen: %s
  admin_listen: ""
  via: ferry-fetch-test
rules:
  - key_prefix: img/
    origin: %s/dir1/
    headers:
      pass: [a-header]
      set: [{name: c-header, value: "3"}]
`, filepath.Join(dir, "target"), filepath.Join(dir, "state"), listen, origin.URL)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ferry := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := runContext(context.Background(), append(args, "--config", config), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	if code, out := ferry("rules", "test", "img/a b+c.jpg", "--fetch", "-H", "a-header: 1", "-H", "b-header: 2"); code != 0 || !strings.Contains(out, "origin answered: 200 OK") {
		t.Fatalf("rules test: %d\n%s", code, out)
	}

	// The same key filled by serve, with the same client headers.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var serveOut bytes.Buffer
	go func() {
		done <- runContext(ctx, []string{"serve", "--config", config}, strings.NewReader(""), &serveOut, &serveOut)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d\n%s", code, serveOut.String())
		}
	}()
	base := "http://" + listen
	waitListening(t, listen)
	get := func(path string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("a-header", "1")
		req.Header.Set("b-header", "2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := get("/img/a%20b+c.jpg"); status != 200 {
		t.Fatalf("fill: %d", status)
	}
	got := requests()
	if len(got) != 2 || got[0].Method != "HEAD" || got[1].Method != "GET" {
		t.Fatalf("origin saw %+v", got)
	}
	probe, fill := got[0], got[1]
	probe.Method = "GET"
	if !reflect.DeepEqual(probe, fill) {
		t.Errorf("rules test --fetch sent %+v\nthe fill sent %+v", got[0], fill)
	}
	if fill.Header.Get("Via") != "1.1 ferry-fetch-test" || fill.Header.Get("User-Agent") != "ferry-mirror" ||
		fill.Header.Get("A-Header") != "1" || fill.Header.Get("C-Header") != "3" || fill.Header.Get("B-Header") != "" {
		t.Errorf("fill headers %v", fill.Header)
	}

	// A redirect to a private address is refused by both.
	if code, out := ferry("rules", "test", "img/private", "--fetch"); code != 1 || !strings.Contains(out, "redirect_blocked") {
		t.Errorf("rules test of a redirect to loopback: %d\n%s", code, out)
	}
	if status := get("/img/private"); status != http.StatusFailedDependency {
		t.Errorf("fill of a redirect to loopback: %d", status)
	}
}

// loopbackAddr returns a loopback address with a port that was free just now.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after 30s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

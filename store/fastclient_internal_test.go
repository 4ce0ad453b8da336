package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
)

// connCounter counts the connections a test server accepts and those it
// has seen closed.
func connCounter(srv *httptest.Server) (opened, closed *atomic.Int32) {
	opened, closed = new(atomic.Int32), new(atomic.Int32)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	return opened, closed
}

// The fasthttp client sends what the Transport sends for the same read:
// the request target escaped as objectURL escapes it (never normalized),
// the Host that was signed, the same signed headers.
func TestFastClientSendWhatTransportSends(t *testing.T) {
	type seen struct{ uri, host, signed, rng string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signed := signedHeaders(r)
		mu.Lock()
		got = append(got, seen{r.RequestURI, r.Host, signed, r.Header.Get("Range")})
		mu.Unlock()
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
		w.Write([]byte("body"))
	}))
	defer srv.Close()
	fast, slow := openEndpoint(t, srv.URL+"&use_path_style=true"), openEndpoint(t, srv.URL+"&use_path_style=true&fast_client=false")
	if fast.direct.fast == nil || slow.direct.fast != nil {
		t.Fatal("want one bucket reading through fasthttp and one through net/http")
	}
	for _, key := range []string{"a//b/../c d+e%f", "日本/x?y#z", "dir/", "."} {
		for _, b := range []*Bucket{fast, slow} {
			if body := getBody(t, b, key, "bytes=1-2"); body != "body" {
				t.Errorf("GET %q: body %q", key, body)
			}
		}
		if got[0] != got[1] {
			t.Errorf("GET %q:\nfasthttp %+v\nnet/http %+v", key, got[0], got[1])
		}
		got = got[:0]
	}
}

// A PUT through the fasthttp client is the Transport's PUT: the same
// request target, Host, signed headers and their values, Content-Length
// and body, for an empty object too.
func TestFastClientPutWhatTransportPuts(t *testing.T) {
	type seen struct {
		method, uri, host, signed, headers string
		length                             int64
		body                               string
	}
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signed := signedHeaders(r)
		var hs []string
		for _, h := range strings.Split(strings.TrimPrefix(signed, "SignedHeaders="), ";") {
			v := r.Header.Get(h)
			switch h {
			case "host":
				v = r.Host
			case "content-length":
				v = fmt.Sprint(r.ContentLength)
			case "x-amz-date":
				v = "" // the time of signing
			}
			hs = append(hs, h+"="+v)
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Host, signed, strings.Join(hs, " "), r.ContentLength, string(body)})
		mu.Unlock()
	}))
	defer srv.Close()
	fast, slow := openEndpoint(t, srv.URL+"&use_path_style=true"), openEndpoint(t, srv.URL+"&use_path_style=true&fast_client=false")
	opts := &blob.WriterOptions{IfNotExist: true, ContentType: "text/html", CacheControl: "max-age=60", Metadata: map[string]string{"origin-etag": `"abc"`}}
	for _, c := range []struct {
		key  string
		body []byte
	}{{"a//b/../c d+e%f", []byte("<p>hello</p>")}, {"日本/x", bytes.Repeat([]byte("z"), 100<<10)}, {"empty", []byte{}}, {"nil", nil}} {
		for _, b := range []*Bucket{fast, slow} {
			if err := b.Direct().Put(context.Background(), c.key, c.body, opts); err != nil {
				t.Fatalf("PUT %q: %v", c.key, err)
			}
		}
		if len(got) != 2 {
			t.Fatalf("PUT %q: %d requests, want 2", c.key, len(got))
		}
		if got[0].body != string(c.body) || got[0].length != int64(len(c.body)) {
			t.Errorf("PUT %q through fasthttp: %d bytes (Content-Length %d), want %d", c.key, len(got[0].body), got[0].length, len(c.body))
		}
		if got[0] != got[1] {
			t.Errorf("PUT %q:\nfasthttp %+v\nnet/http %+v", c.key, got[0], got[1])
		}
		got = got[:0]
	}
}

// A body bigger than what comes with the headers is streamed; read to its
// end, its connection serves the next read; closed early, the connection
// is closed (never reused with the rest of a body unread).
func TestFastClientStreamAndReuse(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big)
	}))
	conns, closed := connCounter(srv)
	srv.Start()
	defer srv.Close()
	b := openEndpoint(t, srv.URL)
	ctx := context.Background()
	for i := range 3 {
		o, err := b.Get(ctx, "k", "")
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(o.Body)
		o.Body.Close()
		if err != nil || !bytes.Equal(data, big) || o.Length != int64(len(big)) {
			t.Fatalf("read %d: %d bytes, err %v", i, len(data), err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("three whole reads took %d connections, want 1", n)
	}
	o, err := b.Get(ctx, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(o.Body, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	o.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for closed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if closed.Load() != 1 {
		t.Fatal("a body closed before its end left its connection open")
	}
	o, err = b.Get(ctx, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(o.Body)
	o.Body.Close()
	if err != nil || !bytes.Equal(data, big) {
		t.Fatalf("read after an early close: %d bytes, err %v", len(data), err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("after an early close: %d connections, want 2 (a new one)", n)
	}
}

// Cancelling a read's context stops it where it waits: for the answer's
// headers, or in the middle of its body.
func TestFastClientContextCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bkt/slow-headers" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(1<<20))
		w.Write(make([]byte, 256<<10))
		w.(http.Flusher).Flush()
		select { // the rest never comes
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	b := openEndpoint(t, srv.URL)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.Get(ctx, "slow-headers", "")
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // not needed for the test to hold: a cancel before the request is refused too
	cancel()
	wantCanceled(t, errc, "while waiting for its headers")

	ctx, cancel = context.WithCancel(context.Background())
	o, err := b.Get(ctx, "slow-body", "")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Body.Close()
	if _, err := io.ReadFull(o.Body, make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := o.Body.Read(make([]byte, 1024))
		errc <- err
	}()
	cancel()
	wantCanceled(t, errc, "in its body")
}

// wantCanceled fails t unless errc soon gives context.Canceled: a read
// cancelled where (while waiting for headers, in its body) stops there.
func wantCanceled(t *testing.T, errc <-chan error, where string) {
	t.Helper()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled %s: %v, want context.Canceled", where, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("a read cancelled %s still waits", where)
	}
}

// A kept-alive connection the server has closed is found out by the next
// request, which is sent again on a new connection, as the Transport does
// for a GET.
func TestFastClientRetryClosedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { // one answer per connection, then closed without saying so
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"x\"\r\n\r\nok")
			}()
		}
	}()
	b := openEndpoint(t, "http://"+ln.Addr().String())
	for i := range 4 {
		if i == 3 { // a PUT, too
			if err := b.Direct().Put(context.Background(), "k", []byte("data"), nil); err != nil {
				t.Fatalf("put after a closed connection: %v", err)
			}
			break
		}
		if data := getBody(t, b, "k", ""); data != "ok" {
			t.Fatalf("read %d: %q", i, data)
		}
		// The server has closed the connection once its answer is sent;
		// wait until the next accept would be needed.
		deadline := time.Now().Add(10 * time.Second)
		for conns.Load() < int32(i+1) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections for three reads and a PUT, want 4", n)
	}
}

// A redirect is an error, never followed: a signed read must not go where
// a Location points.
func TestFastClientNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/x", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	b := openEndpoint(t, srv.URL)
	if _, err := b.Get(context.Background(), "k", ""); err == nil {
		t.Fatal("a 307 was taken as the object")
	}
	if _, err := b.Head(context.Background(), "k"); err == nil {
		t.Fatal("a 307 to a HEAD was taken as the object")
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d requests followed the redirect", n)
	}
}

// getBody is the body of a GET of key (with the Range rng, or none).
func getBody(t *testing.T, b *Bucket, key, rng string) string {
	t.Helper()
	o, err := b.Get(context.Background(), key, rng)
	if err != nil {
		t.Fatalf("GET %q: %v", key, err)
	}
	defer o.Body.Close()
	body, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatalf("GET %q: reading the body: %v", key, err)
	}
	return string(body)
}

// signedHeaders is the SignedHeaders=... part of r's SigV4 Authorization.
func signedHeaders(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	signed := auth[strings.Index(auth, "SignedHeaders="):]
	return signed[:strings.Index(signed, ",")]
}

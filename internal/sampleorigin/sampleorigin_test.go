package sampleorigin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestOriginServesProducesAndFails(t *testing.T) {
	o, err := Start(filepath.Join(t.TempDir(), "www"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	keys, err := o.Generate("cold/", 3, 5000)
	if err != nil || len(keys) != 3 {
		t.Fatal(keys, err)
	}
	st, body := get(t, o.URL+keys[1])
	if st != 200 || !bytes.Equal(body, Content(keys[1], len(body))) || len(body) == 0 {
		t.Fatalf("GET %s: %d, %d bytes", keys[1], st, len(body))
	}
	if st, _ := get(t, o.URL+"cold/"); st != 404 {
		t.Errorf("directory listing answered %d", st)
	}
	o.FailWith(func(k string) bool { return strings.HasPrefix(k, "cold/") }, 503)
	if st, _ := get(t, o.URL+keys[0]); st != 503 {
		t.Errorf("injected failure answered %d", st)
	}
	o.FailWith(nil, 0)

	// Produce until two hot files appeared (however long that takes here).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produced := make(chan error, 1)
	go func() { produced <- o.Produce(ctx, "hot/", 10*time.Millisecond, 100) }()
	deadline := time.Now().Add(60 * time.Second)
	for len(o.Written()) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("Produce wrote %d files in 60s", len(o.Written())-3)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	all, err := o.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 5 || len(all) != len(o.Written()) {
		t.Fatalf("keys %d, written %d", len(all), len(o.Written()))
	}
	if o.Requests() != 3 {
		t.Errorf("requests = %d, want 3", o.Requests())
	}
}

// A held key sends its headers and half its body, and the rest only after
// release.
func TestHold(t *testing.T) {
	o, err := Start(filepath.Join(t.TempDir(), "www"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Put("h.dat", 1000); err != nil {
		t.Fatal(err)
	}
	release := o.Hold("h.dat")
	resp, err := http.Get(o.URL + "h.dat")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != 1000 {
		t.Fatalf("Content-Length %d", resp.ContentLength)
	}
	first := make([]byte, 500)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	rest := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(resp.Body); rest <- b }()
	select {
	case b := <-rest:
		t.Fatalf("the rest (%d bytes) arrived before release", len(b))
	case <-time.After(50 * time.Millisecond):
	}
	release()
	release() // idempotent
	got := append(first, <-rest...)
	if !bytes.Equal(got, Content("h.dat", 1000)) {
		t.Fatalf("held body differs (%d bytes)", len(got))
	}
	if st, body := get(t, o.URL+"h.dat"); st != 200 || len(body) != 1000 {
		t.Fatalf("after release: %d, %d bytes", st, len(body))
	}
}

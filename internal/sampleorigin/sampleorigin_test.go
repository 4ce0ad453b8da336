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

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	if err := o.Produce(ctx, "hot/", 10*time.Millisecond, 100); err != nil {
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

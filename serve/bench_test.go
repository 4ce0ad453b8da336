package serve

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-migrate/ferry/store"
)

// BenchmarkHit4K measures a 4 KiB hit on a file target through a real
// loopback connection (keep-alive).
func BenchmarkHit4K(b *testing.B) { benchHit4K(b, nil) }

// BenchmarkHit4KAccessLog is BenchmarkHit4K with the JSON access log on.
func BenchmarkHit4KAccessLog(b *testing.B) {
	benchHit4K(b, slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

func benchHit4K(b *testing.B, access *slog.Logger) {
	dir := b.TempDir()
	bk, err := store.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	if err := bk.WriteAll(context.Background(), "4k.bin", make([]byte, 4096), nil); err != nil {
		b.Fatal(err)
	}
	srv, err := New(Options{Target: bk, AccessLog: access})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	client := ts.Client()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(ts.URL + "/4k.bin")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkFileServer4K is the baseline: a bare http.FileServer.
func BenchmarkFileServer4K(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "4k.bin"), make([]byte, 4096), 0o644); err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer ts.Close()
	client := ts.Client()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(ts.URL + "/4k.bin")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

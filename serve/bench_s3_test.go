//go:build unix

package serve

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
)

// BenchmarkS3Hit4K measures a 4 KiB hit on a MinIO target through serve
// (direct path and SDK path), reporting this process's CPU per hit: serve,
// its target client and the benchmark's HTTP client (MinIO is another
// process).
func BenchmarkS3Hit4K(b *testing.B) {
	s := miniotest.Get(b)
	u := s.BucketURL(b)
	for _, path := range []string{"direct", "sdk"} {
		b.Run(path, func(b *testing.B) {
			q := ""
			if path == "sdk" {
				q = "&direct_put=false"
			}
			bk, err := store.Open(context.Background(), u+q)
			if err != nil {
				b.Fatal(err)
			}
			defer bk.Close()
			if err := bk.WriteAll(context.Background(), "4k.bin", make([]byte, 4096), nil); err != nil {
				b.Fatal(err)
			}
			srv, err := New(Options{Target: bk})
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			client := ts.Client()
			b.ReportAllocs()
			cpu := cpuTime()
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
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

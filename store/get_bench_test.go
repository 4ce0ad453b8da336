//go:build unix

package store_test

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
)

// cpuTime is the CPU time (user and system) this process has used; MinIO
// runs in its own process, so a benchmark's difference is the client's.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTargetRead4K reads a 4 KiB object from MinIO as a serve hit does:
// one direct GET (through fasthttp, and through net/http with
// fast_client=false), one SDK GetObject, and the two requests a hit cost before
// (Attributes, then NewRangeReader). It reports the client CPU per read.
func BenchmarkTargetRead4K(b *testing.B) {
	s := miniotest.Get(b)
	ctx := context.Background()
	u := s.BucketURL(b)
	direct, err := store.Open(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	sdk, err := store.Open(ctx, u+"&direct_put=false")
	if err != nil {
		b.Fatal(err)
	}
	defer sdk.Close()
	nethttp, err := store.Open(ctx, u+"&fast_client=false")
	if err != nil {
		b.Fatal(err)
	}
	defer nethttp.Close()
	if err := direct.WriteAll(ctx, "4k.bin", make([]byte, 4096), nil); err != nil {
		b.Fatal(err)
	}
	get := func(bk *store.Bucket) func() error {
		return func() error {
			o, err := bk.Get(ctx, "4k.bin", "")
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, o.Body)
			o.Body.Close()
			return err
		}
	}
	for _, c := range []struct {
		name string
		read func() error
	}{
		{"direct-GET", get(direct)},
		{"direct-GET-net/http", get(nethttp)},
		{"sdk-GetObject", get(sdk)},
		{"sdk-HEAD+GET", func() error {
			a, err := sdk.Attributes(ctx, "4k.bin")
			if err != nil {
				return err
			}
			r, err := sdk.NewRangeReader(ctx, "4k.bin", 0, a.Size, nil)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, r)
			r.Close()
			return err
		}},
		{"direct-HEAD", func() error { _, err := direct.Head(ctx, "4k.bin"); return err }},
		{"direct-HEAD-net/http", func() error { _, err := nethttp.Head(ctx, "4k.bin"); return err }},
		{"sdk-HEAD", func() error { _, err := sdk.Head(ctx, "4k.bin"); return err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if err := c.read(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "client-cpu-µs/op")
		})
	}
}

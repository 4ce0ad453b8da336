//go:build unix

package store_test

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
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

// BenchmarkTargetPut4K stores 4 KiB objects in MinIO as scan does, one
// create-only direct PUT each (with a Content-Type and two metadata
// headers), through fasthttp's client and through net/http
// (fast_client=false), the two taking turns in blocks of 100 so that a
// change in the machine's speed weighs on both alike. It reports the
// client CPU per PUT of each.
func BenchmarkTargetPut4K(b *testing.B) {
	s := miniotest.Get(b)
	ctx := context.Background()
	u := s.BucketURL(b)
	var clients [2]*store.Bucket
	for i, params := range []string{"", "&fast_client=false"} {
		c, err := store.Open(ctx, u+params)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	body := make([]byte, 4096)
	opts := &blob.WriterOptions{IfNotExist: true, ContentType: "application/octet-stream",
		Metadata: map[string]string{"origin-etag": `"18a2b-1000"`, "origin-last-modified": "Fri, 04 Dec 2026 12:00:00 GMT"}}
	var cpu [2]time.Duration
	var n [2]int
	var k int
	b.ReportAllocs()
	for b.Loop() {
		side := (k / 100) % 2
		t0 := cpuTime()
		if err := clients[side].Direct().Put(ctx, fmt.Sprintf("put/%d", k), body, opts); err != nil {
			b.Fatal(err)
		}
		cpu[side] += cpuTime() - t0
		n[side]++
		k++
	}
	for i, name := range []string{"fasthttp", "net/http"} {
		if n[i] > 0 {
			b.ReportMetric(float64(cpu[i].Microseconds())/float64(n[i]), name+"-client-cpu-µs/op")
		}
	}
}

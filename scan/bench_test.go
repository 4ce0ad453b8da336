package scan

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
)

// benchOrigin writes n files of size bytes into 100 directories, like
// bench/scan.sh, and returns the directory and the relative paths.
func benchOrigin(b *testing.B, n, size int) (string, []string) {
	b.Helper()
	dir := b.TempDir()
	buf := make([]byte, size)
	var keys []string
	for i := range n {
		rand.Read(buf)
		k := fmt.Sprintf("d%d/f%06d", i%100, i)
		p := filepath.Join(dir, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
		keys = append(keys, k)
	}
	return dir, keys
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchCount(def int) int {
	if v, err := strconv.Atoi(os.Getenv("FERRY_BENCH_N")); err == nil && v > 0 {
		return v
	}
	return def
}

func benchSize(def int) int {
	if v, err := strconv.Atoi(os.Getenv("FERRY_BENCH_SIZE")); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkScanFileToMinIO copies a file origin (FERRY_BENCH_N files of
// FERRY_BENCH_SIZE bytes, default 2,000 x 4 KiB) into a fresh MinIO bucket
// per iteration, its PUTs through fasthttp's client (the default) and
// through Go's net/http (fast_client=false). Run with -cpuprofile to see
// the client's cost per object; compare with BenchmarkBarePut.
func BenchmarkScanFileToMinIO(b *testing.B) {
	s := miniotest.Get(b)
	n, size := benchCount(2000), benchSize(4096)
	dir, _ := benchOrigin(b, n, size)
	ctx := context.Background()
	src, err := store.OpenOrigin(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for _, c := range []struct{ name, params string }{{"fasthttp", ""}, {"net/http", "&fast_client=false"}} {
		b.Run(c.name, func(b *testing.B) { benchScanInto(b, src, n, size, func() string { return s.BucketURL(b) + c.params }) })
	}
}

func benchScanInto(b *testing.B, src *store.Bucket, n, size int, bucketURL func() string) {
	ctx := context.Background()
	b.SetBytes(int64(n * size))
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		dst, err := store.Open(ctx, bucketURL())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := Run(ctx, Options{Origin: src, Target: dst})
		if err != nil {
			b.Fatal(err)
		}
		if res.Copied != int64(n) {
			b.Fatalf("copied %d of %d", res.Copied, n)
		}
		dst.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/object")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*n), "cpu-µs/object")
}

// BenchmarkBarePut is the ceiling: read each file and PUT it with the AWS
// SDK, 32 in parallel, no listing, no checks, no metadata.
func BenchmarkBarePut(b *testing.B) {
	s := miniotest.Get(b)
	n, size := benchCount(2000), benchSize(4096)
	dir, keys := benchOrigin(b, n, size)
	c := s.Client()
	b.SetBytes(int64(n * size))
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		bucket := s.NewBucket(b)
		b.StartTimer()
		ch := make(chan string)
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for k := range ch {
					body, err := os.ReadFile(filepath.Join(dir, k))
					if err != nil {
						b.Error(err)
						continue
					}
					if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: bytes.NewReader(body)}); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for _, k := range keys {
			ch <- k
		}
		close(ch)
		wg.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/object")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*n), "cpu-µs/object")
}

package scan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// synthBucket lists n synthetic keys ("k" + 10-digit number) without
// storing them; keep says which numbers exist. Only listing is supported.
type synthBucket struct {
	driver.Bucket
	n    int
	keep func(i int) bool
}

var errSynthNotFound = errors.New("not found")

func (b *synthBucket) ErrorCode(err error) gcerrors.ErrorCode {
	if err == errSynthNotFound {
		return gcerrors.NotFound
	}
	return gcerrors.Unknown
}

func (b *synthBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	i, err := strconv.Atoi(key[1:])
	if err != nil || i >= b.n || !b.keep(i) {
		return nil, errSynthNotFound
	}
	return &driver.Attributes{Size: 4096}, nil
}
func (b *synthBucket) As(any) bool             { return false }
func (b *synthBucket) ErrorAs(error, any) bool { return false }
func (b *synthBucket) Close() error            { return nil }

func (b *synthBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	start := 0
	if len(opts.PageToken) > 0 {
		start, _ = strconv.Atoi(string(opts.PageToken))
	}
	page := &driver.ListPage{}
	i := start
	for ; i < b.n && len(page.Objects) < opts.PageSize; i++ {
		if b.keep(i) {
			page.Objects = append(page.Objects, &driver.ListObject{Key: fmt.Sprintf("k%010d", i), Size: 4096, ModTime: time.Unix(0, 0)})
		}
	}
	if i < b.n {
		page.NextPageToken = []byte(strconv.Itoa(i))
	}
	return page, nil
}

// TestDiffMemory1M diffs a 1,000,000-key origin listing against a target
// listing that lacks every 100th key and reports the peak RSS. It is a
// benchmark, run by bench/scan.sh: FERRY_BENCH_MEM=1 go test -run TestDiffMemory1M ./scan/
func TestDiffMemory1M(t *testing.T) {
	if os.Getenv("FERRY_BENCH_MEM") == "" {
		t.Skip("set FERRY_BENCH_MEM=1 to run the 1,000,000-key diff memory benchmark")
	}
	const n = 1_000_000
	origin := blob.NewBucket(&synthBucket{n: n, keep: func(int) bool { return true }})
	target := blob.NewBucket(&synthBucket{n: n, keep: func(i int) bool { return i%100 != 0 }})
	start := time.Now()
	res, err := Run(context.Background(), Options{Origin: store.Wrap(origin), Target: store.Wrap(target), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("diff of %d origin keys against %d target keys: %d missing, %d present, %.2fs, peak RSS %.1f MB, Go heap peak sys %.1f MB\n",
		n, n-n/100, res.Missing, res.Skipped, time.Since(start).Seconds(), float64(ru.Maxrss)/1024, float64(ms.Sys)/(1<<20))
	if res.Missing != n/100 || res.Skipped != n-n/100 {
		t.Fatalf("%+v", res.Stats)
	}
}

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-migrate/ferry/internal/miniotest"
)

// Sizes: hits big enough that the client's unread socket holds them
// mid-body, a fill above the multipart size (and a small one for the direct
// PUT), a coalesced fill read by three clients at once.
const (
	hitSize       = 8 << 20
	bigFillSize   = 17<<20 + 1234 // above the 16 MiB multipart threshold of the S3 writer
	smallFillSize = 512 << 10
	sharedSize    = 3 << 20
	headBytes     = 32 << 10
	// Every link runs at this rate while the requests start, so that fills
	// and hits are surely mid-body when the fault arrives: at 1 MB/s an
	// 8 MiB hit needs 8 s to pass the proxy, several times what the
	// requests took to start on a loaded machine (at 8 MB/s a hit could
	// pass whole before a reset_peer was added, which then touched
	// nothing). The limit stays until the requests end: toxiproxy can hang
	// removing a toxic from a link that is passing data.
	baseRateKBps = 1 << 10
)

// toxicCase is one fault on one side, added while fills and hits are
// mid-body: one or more toxics added together.
type toxicCase struct {
	name   string
	side   string // "origin" or "target"
	toxics []toxicSpec
	// hurts: the fault must break at least one answer (a reset or a
	// stall); otherwise (latency, bandwidth) every answer is a whole 200.
	hurts bool
}

type toxicSpec struct {
	typ   string
	attrs map[string]any
}

// slow is latency and a bandwidth limit at once: both make transfers slow,
// neither may break one, so one case covers the two.
var slow = []toxicSpec{
	{"latency", map[string]any{"latency": 300, "jitter": 100}},
	{"bandwidth", map[string]any{"rate": 2 << 10}},
}

// toxicCases: every fault kind on either side. A stall (timeout 0) drops
// what is sent and never closes: serve gives up on its own (the origin's
// idle timeout, the client's write idle timeout, the SDK's response header
// timeout for a commit). A stall that ends in a close is what reset_peer
// already covers, so it has no case of its own.
var toxicCases = []toxicCase{
	{"origin slow (latency, bandwidth)", "origin", slow, false},
	{"origin reset_peer", "origin", []toxicSpec{{"reset_peer", map[string]any{"timeout": 100}}}, true},
	{"origin timeout (stall)", "origin", []toxicSpec{{"timeout", map[string]any{"timeout": 0}}}, true},
	{"target slow (latency, bandwidth)", "target", slow, false},
	{"target reset_peer", "target", []toxicSpec{{"reset_peer", map[string]any{"timeout": 100}}}, true},
	{"target timeout (stall)", "target", []toxicSpec{{"timeout", map[string]any{"timeout": 0}}}, true},
}

// hangBound is the longest any answer may take under a fault.
const hangBound = 90 * time.Second

// TestToxics: each fault of toxicCases hits fills (big, small, coalesced)
// and hits in the middle of their bodies. No client sees a clean short
// 200 or a non-XML error, nothing partial is stored, no multipart upload
// stays (serve aborts what the SDK could not: the test never does), serve
// is ready again once the fault is gone, and every key then answers whole.
// The cases share nothing but MinIO: each has its own bucket, origin,
// proxies and serve, and they run in parallel.
func TestToxics(t *testing.T) {
	long(t)
	t.Parallel()
	for i, tc := range toxicCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, miniotest.Get(t))
			p := w.startServe()
			prefix := fmt.Sprintf("c%d/", i)
			runToxicCase(t, w, p, tc, prefix)
			// The big fill went through the multipart path (MinIO's ETag
			// of a multipart object ends in -<parts>).
			key := prefix + "big"
			head, err := w.minio.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
			if err != nil || !strings.Contains(aws.ToString(head.ETag), "-") {
				t.Errorf("%s was not stored by a multipart upload: %v\nserve's log:\n%s", key, err, p.out.String())
			}
			p.stop()
		})
	}
}

func runToxicCase(t *testing.T, w *world, p *serveProc, tc toxicCase, prefix string) {
	t0 := time.Now()
	keys := caseKeys(w, prefix, tc.side)
	t.Logf("put: %v", time.Since(t0))
	proxy := map[string]*toxiproxy.Proxy{"origin": w.toOrigin, "target": w.toTarget}[tc.side]
	toxic(t, w.toOrigin, "base", "bandwidth", "", map[string]any{"rate": baseRateKBps})
	toxic(t, w.toTarget, "base", "bandwidth", "", map[string]any{"rate": baseRateKBps})

	var ty tally
	var slowest atomic.Int64
	started := make(chan struct{}, len(keys))
	faulted := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*hangBound)
			defer cancel()
			a := get(ctx, client, p.data+"/"+k, headBytes, func() { started <- struct{}{}; <-faulted })
			slowest.Store(max(slowest.Load(), int64(a.took)))
			if a.took > hangBound {
				ty.add("hung", fmt.Errorf("GET %s: no answer for %v", k, a.took))
				return
			}
			ty.add(judge(k, w.content(k), a))
		}()
	}
	for range keys {
		select {
		case <-started:
		case <-time.After(60 * time.Second):
			t.Fatalf("requests did not start within 60s: %v", ty.String())
		}
	}
	t.Logf("started: %v", time.Since(t0))
	for i, x := range tc.toxics {
		toxic(t, proxy, fmt.Sprint("fault-", i), x.typ, "", x.attrs)
	}
	close(faulted)
	wg.Wait()
	t.Logf("done: %v", time.Since(t0))
	for i := range tc.toxics {
		untoxic(t, proxy, fmt.Sprint("fault-", i))
	}
	untoxic(t, w.toOrigin, "base")
	untoxic(t, w.toTarget, "base")
	t.Logf("%s: %v (slowest answer %v)", tc.name, ty.String(), time.Duration(slowest.Load()).Round(time.Millisecond))
	ty.check(t)
	hurt := len(keys) - ty.count("200 hit") - ty.count("200 fill") - ty.count("200 coalesced")
	if tc.hurts && hurt == 0 {
		t.Errorf("%s broke no answer: the fault did not reach the transfers (%v)", tc.name, ty.String())
	}
	if !tc.hurts && hurt != 0 {
		t.Errorf("%s is slow, not broken, yet %d answers were not whole 200s: %v", tc.name, hurt, ty.String())
	}
	checkAfterFault(t, w, p, prefix, keys)
	if t.Failed() {
		t.Logf("serve's log:\n%s", p.out.String())
	}
}

// caseKeys puts the keys of one case: hits (two for a target fault, which
// must break them mid-body; one for an origin fault, which must not touch
// it), a big fill (multipart), a small fill (direct PUT) and one shared
// fill read three times; it returns one key per request.
func caseKeys(w *world, prefix, side string) []string {
	var keys []string
	hits := 1
	if side == "target" {
		hits = 2
	}
	for i := range hits {
		k := fmt.Sprintf("%shit-%d", prefix, i)
		w.put(k, hitSize, true)
		keys = append(keys, k)
	}
	big, small := prefix+"big", prefix+"small"
	w.put(big, bigFillSize, false)
	w.put(small, smallFillSize, false)
	shared := prefix + "shared"
	w.put(shared, sharedSize, false)
	return append(keys, big, small, shared, shared, shared)
}

// checkAfterFault: once the fault is gone and the fills ended, nothing
// partial is stored, no upload is pending (serve aborted those the SDK
// could not, such as an upload whose ID never reached serve), serve is
// ready, and every key answers whole (a failed fill is fetched again).
func checkAfterFault(t *testing.T, w *world, p *serveProc, prefix string, keys []string) {
	t.Helper()
	t0 := time.Now()
	p.settle()
	t.Logf("settled: %v", time.Since(t0))
	stored := w.assertWhole(prefix)
	w.assertNoUploads()
	if n, err := p.metric("ferry_mirror_upload_sweep_failures_total"); err != nil || n != 0 {
		t.Errorf("upload sweeps that failed: %v, %v", n, err)
	}
	orphans, _ := p.metric("ferry_mirror_orphaned_uploads_aborted_total")
	eventually(t, 30*time.Second, "serve ready again", p.ready)
	var ty tally
	for _, k := range keys {
		ty.add(judge(k, w.content(k), get(context.Background(), http.DefaultClient, p.data+"/"+k, 0, nil)))
	}
	t.Logf("recovered: %v", time.Since(t0))
	ty.check(t)
	if n := ty.count("200 "); n != len(keys) {
		t.Errorf("after the fault: %d of %d answers are whole 200s: %v", n, len(keys), ty.String())
	}
	t.Logf("after the fault: %d objects were whole in the target, %v orphaned uploads aborted by serve, then %v", stored, orphans, ty.String())
	p.settle()
	w.assertNoUploads()
}

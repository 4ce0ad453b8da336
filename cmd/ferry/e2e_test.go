package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/internal/sampleorigin"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// TestEndToEndMigration runs the real workflow against a MinIO target:
// cold data, scan, cutover to serve under concurrent clients while the origin
// keeps producing and some origin requests fail, production stops, finalize
// copies the missed and failed keys and reports complete, the rules are
// removed and serve stops going back to the origin. Throughout, no client
// sees a 5xx other than the injected MirrorFailed (424), and every object in
// the target is always whole.
func TestEndToEndMigration(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	s := miniotest.Get(t)
	bucket := s.NewBucket(t)
	targetURL := s.URL(bucket, "")
	dir := isolate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	origin, err := sampleorigin.Start(filepath.Join(dir, "www"))
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	if _, err := origin.Generate("cold/", 300, 96<<10); err != nil {
		t.Fatal(err)
	}
	// Two objects above the multipart threshold.
	for _, k := range []string{"cold/big-1.bin", "cold/big-2.bin"} {
		if err := origin.Put(k, 9<<20+123); err != nil {
			t.Fatal(err)
		}
	}
	dataAddr, _ := freeAddr()
	adminAddr, _ := freeAddr()
	cfgPath := filepath.Join(dir, "ferry.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`# end-to-end test
target: %s
state_dir: %s
serve:
  listen: %s
  admin_listen: %s
  reload_interval: 200ms
  access_log: false
`, targetURL, filepath.Join(dir, "state"), dataAddr, adminAddr))

	ferry := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := runContext(ctx, append(args, "--config", cfgPath), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	if code, out := ferry("rules", "add", "--origin", origin.URL); code != 0 {
		t.Fatalf("rules add: %d\n%s", code, out)
	}

	// 1. scan the cold data.
	if code, out := ferry("scan", "--origin", "file://"+origin.Dir); code != 0 {
		t.Fatalf("scan: %d\n%s", code, out)
	}
	target, err := store.Open(ctx, targetURL)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()

	// The target must never hold a partial object: a watcher compares every
	// listed object with the origin file while everything runs.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchWG sync.WaitGroup
	var watchErr atomic.Value
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		for watchCtx.Err() == nil {
			if err := checkWhole(watchCtx, target.Bucket, origin.Dir, false); err != nil && watchCtx.Err() == nil {
				watchErr.Store(err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// 2. cutover: serve, a producer, injected origin failures, clients.
	serveCtx, stopServe := context.WithCancel(ctx)
	serveDone := make(chan int, 1)
	var serveOut syncBuffer
	go func() {
		serveDone <- runContext(serveCtx, []string{"serve", "--config", cfgPath}, strings.NewReader(""), &serveOut, &serveOut)
	}()
	defer stopServe()
	if err := waitHTTP(ctx, "http://"+adminAddr+"/readyz", serveDone, nil); err != nil {
		t.Fatalf("%v\n%s", err, serveOut.String())
	}

	produceCtx, stopProducing := context.WithCancel(ctx)
	var produceWG sync.WaitGroup
	produceWG.Add(1)
	go func() {
		defer produceWG.Done()
		_ = origin.Produce(produceCtx, "hot/", 15*time.Millisecond, 48<<10)
	}()
	// Every hot key ending in 3 fails at the origin with a 500 during cutover.
	origin.FailWith(func(k string) bool { return strings.HasPrefix(k, "hot/") && strings.HasSuffix(k, "3.dat") }, 500)

	var (
		mu       sync.Mutex
		outcomes = map[string]int{}
		problems []string
	)
	note := func(k string) { mu.Lock(); outcomes[k]++; mu.Unlock() }
	problem := func(f string, a ...any) { mu.Lock(); problems = append(problems, fmt.Sprintf(f, a...)); mu.Unlock() }
	coldKeys, _ := origin.Keys()
	// The clients run until every expected outcome was seen and enough
	// requests were made, however slow the machine is; only a generous
	// deadline ends them otherwise, and then the test says what is missing.
	wanted := []string{"200 hit", "200 fill", "424 "}
	const minRequests = 200
	var requests atomic.Int64
	seenAll := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return missingOutcomes(outcomes, wanted) == nil
	}
	clientsCtx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	var clients sync.WaitGroup
	for c := 0; c < 8; c++ {
		clients.Add(1)
		go func() {
			defer clients.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for clientsCtx.Err() == nil {
				if requests.Load() >= minRequests && seenAll() {
					return
				}
				var key string
				if rng.IntN(2) == 0 {
					key = coldKeys[rng.IntN(len(coldKeys))]
				} else {
					w := origin.Written()
					key = w[len(w)-1-rng.IntN(min(5, len(w)))] // the newest keys
				}
				st, how, body, err := clientGet(clientsCtx, "http://"+dataAddr+"/"+key)
				requests.Add(1)
				if err != nil {
					if clientsCtx.Err() == nil {
						problem("GET %s: %v", key, err)
					}
					continue
				}
				note(fmt.Sprintf("%d %s", st, how))
				switch {
				case st == http.StatusOK:
					want, err := os.ReadFile(filepath.Join(origin.Dir, filepath.FromSlash(key)))
					if err != nil || !bytes.Equal(body, want) {
						problem("GET %s: body differs from the origin (%d bytes)", key, len(body))
					}
				case st == http.StatusFailedDependency && strings.HasSuffix(key, "3.dat"):
					// the injected failure, answered as MirrorFailed
				default:
					problem("GET %s: status %d (%s)", key, st, how)
				}
			}
		}()
	}
	clientsDone := make(chan struct{})
	go func() { clients.Wait(); close(clientsDone) }()
	select {
	case <-clientsDone:
	case <-time.After(90 * time.Second):
		stopClients()
		<-clientsDone
		mu.Lock()
		t.Fatalf("after 90s and %d requests, no client request answered %q: %v", requests.Load(), missingOutcomes(outcomes, wanted), outcomes)
	}
	t.Logf("client outcomes after %d requests: %v", requests.Load(), outcomes)
	if len(problems) > 0 {
		t.Fatalf("%d client problems, e.g. %v", len(problems), problems[:min(5, len(problems))])
	}
	// Keys nobody asked for yet, so finalize has something to copy.
	if _, err := origin.Generate("hot/", 3, 48<<10); err != nil {
		t.Fatal(err)
	}

	// 3. production stops, the origin recovers; finalize.
	stopProducing()
	produceWG.Wait()
	origin.FailWith(nil, 0)
	report := filepath.Join(dir, "ready.json")
	code, out := ferry("finalize", "--origin", "file://"+origin.Dir, "--report", report)
	if code != 0 {
		t.Fatalf("finalize: exit %d\n%s", code, out)
	}
	var rep struct {
		Complete    bool  `json:"complete"`
		OriginKeys  int64 `json:"origin_keys"`
		Present     int64 `json:"present"`
		CopiedNow   int64 `json:"copied_now"`
		RetriedKeys int   `json:"retried_keys"`
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	allKeys, _ := origin.Keys()
	if !rep.Complete || rep.OriginKeys != int64(len(allKeys)) || rep.Present != rep.OriginKeys || rep.CopiedNow == 0 || rep.RetriedKeys == 0 {
		t.Fatalf("finalize report: %+v (origin has %d keys)\n%s", rep, len(allKeys), out)
	}

	// 4. rules removed: serve reloads and stops going back to the origin.
	if code, out := ferry("rules", "clear", "--yes"); code != 0 {
		t.Fatalf("rules clear: %d\n%s", code, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := metricValue(ctx, "http://"+adminAddr+"/metrics", "ferry_serve_rules")
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not reload the cleared rules within 60s: %v\n%s", err, serveOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := origin.Put("late/new.dat", 10); err != nil {
		t.Fatal(err)
	}
	before := origin.Requests()
	st, _, _, err := clientGet(ctx, "http://"+dataAddr+"/late/new.dat")
	if err != nil || st != http.StatusNotFound || origin.Requests() != before {
		t.Fatalf("after rules clear: status %d, err %v, origin requests +%d", st, err, origin.Requests()-before)
	}

	stopWatch()
	watchWG.Wait()
	if err, _ := watchErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	if err := checkWhole(ctx, target.Bucket, origin.Dir, true); err != nil {
		t.Fatal(err)
	}
	if n := s.PendingUploads(t, bucket); n != 0 {
		t.Errorf("%d multipart uploads left pending", n)
	}
	stopServe()
	select {
	case code := <-serveDone:
		if code != 0 {
			t.Fatalf("serve exited %d\n%s", code, serveOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60s")
	}
}

// missingOutcomes returns the prefixes in want that no key of seen has.
func missingOutcomes(seen map[string]int, want []string) []string {
	var missing []string
	for _, w := range want {
		found := false
		for k := range seen {
			found = found || strings.HasPrefix(k, w)
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// checkWhole verifies that every object in the target has exactly the
// origin file's bytes; with all, also that every origin file (except late/)
// is in the target.
func checkWhole(ctx context.Context, target *blob.Bucket, originDir string, all bool) error {
	seen := map[string]bool{}
	it := target.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		seen[obj.Key] = true
		want, err := os.ReadFile(filepath.Join(originDir, filepath.FromSlash(obj.Key)))
		if err != nil {
			return fmt.Errorf("target holds %s, which the origin lacks: %v", obj.Key, err)
		}
		if obj.Size != int64(len(want)) {
			return fmt.Errorf("target holds a partial %s: %d of %d bytes", obj.Key, obj.Size, len(want))
		}
		if all {
			got, err := target.ReadAll(ctx, obj.Key)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				return fmt.Errorf("target %s differs from the origin", obj.Key)
			}
		}
	}
	if all {
		return filepath.WalkDir(originDir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(originDir, p)
			key := filepath.ToSlash(rel)
			if !seen[key] && !strings.HasPrefix(key, "late/") {
				return fmt.Errorf("origin key %s is missing from the target", key)
			}
			return nil
		})
	}
	return nil
}

func clientGet(ctx context.Context, url string) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Ferry-Mirror"), body, err
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

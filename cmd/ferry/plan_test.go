package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/plan"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"
)

// getCounter is a reverse proxy in front of MinIO that counts the object
// GETs per key (listings are not counted).
type getCounter struct {
	mu     sync.Mutex
	bucket string
	gets   map[string]int
}

func (c *getCounter) handler(target string) http.Handler {
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u) // keeps the Host the request was signed for
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key, ok := strings.CutPrefix(r.URL.Path, "/"+c.bucket+"/"); ok && r.Method == http.MethodGet && key != "" {
			c.mu.Lock()
			c.gets[key]++
			c.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	})
}

func (c *getCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.gets))
	for k, v := range c.gets {
		out[k] = v
	}
	return out
}

// ferryProcess starts this test binary as a ferry process.
func ferryProcess(t *testing.T, out *bytes.Buffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asFerryEnv+"=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func listKeys(ctx context.Context, t *testing.T, b *store.Bucket, prefix string) map[string]int64 {
	t.Helper()
	keys := map[string]int64{}
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return keys
			}
			t.Fatal(err)
		}
		keys[o.Key] = o.Size
	}
}

// TestPlanWorkersSurviveAKill: a 5,000-object MinIO origin, a plan of 10
// range partitions stored in a bucket, three worker processes at once, one
// SIGKILLed in the middle of a partition. The survivors take its partition
// over once its lease runs out; workers run again find nothing left. The
// target equals the origin (rclone check), plan status says complete, and
// no object committed before the kill was fetched from the origin again.
func TestPlanWorkersSurviveAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	s := miniotest.Get(t)
	dir := isolate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	originBucket, targetBucket, stateBucket := s.NewBucket(t), s.NewBucket(t), s.NewBucket(t)
	const objects = 5000
	start := time.Now()
	fillOrigin(ctx, t, s.URL(originBucket, ""), objects)
	t.Logf("origin of %d objects written in %v", objects, time.Since(start).Round(time.Millisecond))
	start = time.Now()

	counter := &getCounter{bucket: originBucket, gets: map[string]int{}}
	proxy := httptest.NewServer(counter.handler(s.Endpoint))
	defer proxy.Close()
	originURL := "s3://" + originBucket + "?endpoint=" + proxy.URL + "&region=us-east-1"
	targetURL, stateURL := s.URL(targetBucket, ""), s.URL(stateBucket, "plans/june")

	var out bytes.Buffer
	if code := runContext(ctx, []string{"plan", "create", stateURL, "--origin", originURL, "--partitions", "10", "--listers", "4", "--json"},
		strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("plan create: %d\n%s", code, out.String())
	}
	var created struct {
		Plan plan.Plan `json:"plan"`
	}
	if err := json.Unmarshal(out.Bytes(), &created); err != nil || created.Plan.Totals.Objects != objects || len(created.Plan.Partitions) < 8 {
		t.Fatalf("plan: %v %+v\n%s", err, created.Plan.Totals, out.String())
	}

	target, err := store.Open(ctx, targetURL)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	stateB, err := store.Open(ctx, s.URL(stateBucket, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer stateB.Close()

	// Rate-limited workers, so that a partition takes long enough to be
	// killed in the middle of it.
	worker := func(i int, buf *bytes.Buffer) *exec.Cmd {
		return ferryProcess(t, buf, "scan", "--plan", stateURL, "--worker", "--origin", originURL, "--target", targetURL,
			"--state-dir", filepath.Join(dir, fmt.Sprint("state-", i)), "--lease", "3s", "--max-rps", "150", "--transfers", "8", "--json")
	}
	outs := make([]*bytes.Buffer, 3)
	cmds := make([]*exec.Cmd, 3)
	for i := range cmds {
		outs[i] = &bytes.Buffer{}
		cmds[i] = worker(i, outs[i])
	}
	// Kill worker 0 right after it claimed a partition (a partition takes
	// seconds at this rate), once some partition is done.
	victim := fmt.Sprintf("-%d-", cmds[0].Process.Pid)
	killedPart := -1
	for killedPart < 0 {
		if ctx.Err() != nil {
			t.Fatalf("worker 0 never started a partition while another was done:\n%s", outs[0].String())
		}
		time.Sleep(20 * time.Millisecond)
		if len(listKeys(ctx, t, stateB, "plans/june/done/")) > 0 {
			killedPart = freshClaimOf(ctx, t, stateB, victim, time.Second)
		}
	}
	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmds[0].Wait()
	committed := listKeys(ctx, t, target, "")
	before := counter.snapshot()
	t.Logf("killed worker 0 in partition %d with %d objects committed", killedPart, len(committed))
	if len(committed) == 0 || len(committed) == objects {
		t.Fatalf("killed at %d of %d objects: not in the middle", len(committed), objects)
	}
	for i := 1; i < 3; i++ {
		if err := cmds[i].Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, outs[i].String())
		}
	}
	t.Logf("plan created and done by the workers (one killed) in %v", time.Since(start).Round(time.Millisecond))
	// Workers run again: nothing is left.
	for i := range cmds {
		outs[i].Reset()
		cmds[i] = worker(i+3, outs[i])
	}
	for i := range cmds {
		if err := cmds[i].Wait(); err != nil {
			t.Fatalf("rerun worker %d: %v\n%s", i, err, outs[i].String())
		}
		if strings.Contains(outs[i].String(), `"attempt"`) {
			t.Fatalf("rerun worker %d attempted a partition:\n%s", i, outs[i].String())
		}
		// The JSON summary names the target (its log lines share the output).
		var got string
		if m := regexp.MustCompile(`(?m)^  "target": ("(?:[^"\\]|\\.)*")`).FindSubmatch(outs[i].Bytes()); m != nil {
			_ = json.Unmarshal(m[1], &got)
		}
		if want := store.Redact(targetURL); got != want {
			t.Fatalf("rerun worker %d: JSON summary names target %q, want %q:\n%s", i, got, want, outs[i].String())
		}
	}

	after := counter.snapshot()
	for k := range committed {
		if after[k] != before[k] {
			t.Errorf("%s was committed before the kill and fetched again (%d GETs, %d before)", k, after[k], before[k])
		}
	}
	if got := listKeys(ctx, t, target, ""); len(got) != objects {
		t.Fatalf("target holds %d objects, want %d", len(got), objects)
	}
	rcloneCheck(ctx, t, s, originBucket, targetBucket)

	out.Reset()
	if code := runContext(ctx, []string{"plan", "status", stateURL, "--json"}, strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("plan status: %d\n%s", code, out.String())
	}
	var st plan.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Complete || st.Totals.Listed != objects || st.Totals.Copied+st.Totals.Skipped != objects || st.FailedKeys != 0 ||
		st.Parts[killedPart].Marker.Attempt < 2 {
		t.Fatalf("status: complete %v, totals %+v, killed partition %+v", st.Complete, st.Totals, st.Parts[killedPart])
	}
	out.Reset()
	if code := runContext(ctx, []string{"finalize", "--plan", stateURL, "--origin", originURL, "--target", targetURL,
		"--state-dir", filepath.Join(dir, "finalize")}, strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("finalize --plan: %d\n%s", code, out.String())
	}
}

// freshClaimOf returns the partition a worker (by a part of its name)
// claimed less than fresh ago and still runs, or -1.
func freshClaimOf(ctx context.Context, t *testing.T, b *store.Bucket, worker string, fresh time.Duration) int {
	for k := range listKeys(ctx, t, b, "plans/june/claims/") {
		data, err := b.ReadAll(ctx, k)
		if err != nil {
			continue
		}
		var c plan.Claim
		if json.Unmarshal(data, &c) == nil && c.State == plan.StateRunning && strings.Contains(c.Worker, worker) &&
			time.Since(c.Started) < fresh {
			return c.Partition
		}
	}
	return -1
}

// fillOrigin writes n small objects under a few nested prefixes.
func fillOrigin(ctx context.Context, t *testing.T, rawURL string, n int) {
	t.Helper()
	b, err := store.Open(ctx, rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			key := fmt.Sprintf("d%d/s%02d/obj-%05d.txt", i%5, i%13, i)
			return b.WriteAll(gctx, key, []byte(strings.Repeat(key, 1+i%7)), nil)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// rcloneCheck runs rclone check between two buckets of s.
func rcloneCheck(ctx context.Context, t *testing.T, s *miniotest.Server, src, dst string) {
	t.Helper()
	bin, err := exec.LookPath("rclone")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rclone is required in CI")
		}
		t.Log("rclone not installed: rclone check skipped")
		return
	}
	cmd := exec.CommandContext(ctx, bin, "check", "m:"+src, "m:"+dst)
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "AWS_CA_BUNDLE=") {
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "RCLONE_CONFIG_M_TYPE=s3", "RCLONE_CONFIG_M_PROVIDER=Minio",
		"RCLONE_CONFIG_M_ACCESS_KEY_ID="+miniotest.AccessKey, "RCLONE_CONFIG_M_SECRET_ACCESS_KEY="+miniotest.SecretKey,
		"RCLONE_CONFIG_M_ENDPOINT="+s.Endpoint, "RCLONE_CONFIG_M_REGION=us-east-1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rclone check: %v\n%s", err, out)
	}
}

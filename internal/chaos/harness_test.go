// Package chaos tests ferry serve as a process against real parts (MinIO,
// an HTTP origin) with faults injected between them by toxiproxy: latency,
// bandwidth limits, resets and stalls on either side, the target killed and
// restarted, serve itself killed mid-fill, and a bounded soak. Every case
// checks the same invariants: no client sees a clean short 200, nothing
// partial is stored, no multipart upload is left behind, and serve recovers
// without a restart.
package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/ferry-migrate/ferry/internal/demo"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/internal/sampleorigin"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

var (
	binDir    string // the ferry binary built for these tests
	buildOnce sync.Once
	buildErr  error
)

// defaultParallel is how many cases run at once unless -parallel says
// otherwise: they spend most of their time waiting on timeouts and
// bandwidth limits, not on the CPU.
const defaultParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(defaultParallel))
	}
	var err error
	if binDir, err = os.MkdirTemp("", "ferry-chaos-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// toxiproxy's toxics log through zerolog's global logger.
	zerolog.SetGlobalLevel(zerolog.Disabled)
	code := miniotest.Run(m)
	os.RemoveAll(binDir)
	os.Exit(code)
}

// long skips the chaos suite in -short runs.
func long(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos suite: not in -short")
	}
}

// ferryBinary builds ./cmd/ferry once per test binary: serve runs as a real
// process so that it can be killed and its fds and memory measured.
func ferryBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "ferry")
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", bin, "github.com/ferry-migrate/ferry/cmd/ferry").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/ferry: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// world is one migration under test: MinIO, a bucket, a sample origin,
// toxiproxy in front of both, and serve pointed at the proxies.
type world struct {
	t        *testing.T
	minio    *miniotest.Server
	bucket   string
	target   *store.Bucket // straight to MinIO, for the checks
	origin   *sampleorigin.Origin
	toTarget *toxiproxy.Proxy
	toOrigin *toxiproxy.Proxy
	api      *toxiproxy.ApiServer
	rules    string // rules before the catch-all one, as YAML list items
	dir      string
	spool    string
}

func newWorld(t *testing.T, minio *miniotest.Server) *world {
	t.Helper()
	w := &world{t: t, minio: minio, bucket: minio.NewBucket(t), dir: t.TempDir()}
	var err error
	if w.target, err = store.Open(context.Background(), minio.URL(w.bucket, "")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.target.Close() })
	if w.origin, err = sampleorigin.Start(filepath.Join(w.dir, "www")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.origin.Close() })
	w.api = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	w.toTarget = startProxy(t, w.api, "target", strings.TrimPrefix(minio.Endpoint, "http://"))
	w.toOrigin = startProxy(t, w.api, "origin", w.originAddr())
	w.spool = filepath.Join(w.dir, "spool")
	if err := os.MkdirAll(w.spool, 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) originAddr() string {
	return strings.TrimPrefix(strings.TrimSuffix(w.origin.URL, "/"), "http://")
}

// faultyOrigin routes the keys under prefix to the origin through a proxy of
// their own that carries the toxic for good, from before serve starts. A
// toxic added to or removed from a proxy with live connections can hang
// toxiproxy (v2.5.0: ToxicLink.AddToxic waits for a stub that is blocked
// sending downstream, which hung TestSoak for 24 minutes on a loaded
// machine), so a test that wants a fault now and then routes a share of
// its keys through such a proxy instead of toggling one.
func (w *world) faultyOrigin(prefix, typ string, attrs map[string]any) {
	w.t.Helper()
	name := "origin-" + typ
	p := startProxy(w.t, w.api, name, w.originAddr())
	toxic(w.t, p, name, typ, "", attrs)
	w.rules += fmt.Sprintf("  - key_prefix: %q\n    origin: http://%s/\n", prefix, p.Listen)
}

func startProxy(t *testing.T, api *toxiproxy.ApiServer, name, upstream string) *toxiproxy.Proxy {
	t.Helper()
	p := toxiproxy.NewProxy(api, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy %s: %v", name, err)
	}
	t.Cleanup(p.Stop)
	return p
}

// toxic adds a toxic named name to p (on the downstream, server-to-serve
// direction unless stream says otherwise).
func toxic(t *testing.T, p *toxiproxy.Proxy, name, typ, stream string, attrs map[string]any) {
	t.Helper()
	if err := addToxic(p, name, typ, stream, attrs); err != nil {
		t.Fatal(err)
	}
}

func addToxic(p *toxiproxy.Proxy, name, typ, stream string, attrs map[string]any) error {
	if stream == "" {
		stream = "downstream"
	}
	body, _ := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	return bounded("add toxic "+name+" to "+p.Name, func() error {
		_, err := p.Toxics.AddToxicJson(bytes.NewReader(body))
		return err
	})
}

func untoxic(t *testing.T, p *toxiproxy.Proxy, name string) {
	t.Helper()
	if err := bounded("remove toxic "+name+" from "+p.Name, func() error { return p.Toxics.RemoveToxic(context.Background(), name) }); err != nil {
		t.Fatal(err)
	}
}

// toxicCallBound is how long adding or removing a toxic may take. Both
// wait for every live connection's toxic goroutine to take an interrupt,
// and one blocked sending downstream never does (toxiproxy v2.5.0), so a
// call that takes longer is reported instead of hanging the suite.
const toxicCallBound = 60 * time.Second

func bounded(what string, call func() error) error {
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-time.After(toxicCallBound):
		return fmt.Errorf("%s: toxiproxy did not answer within %v (a live connection's toxic is blocked)", what, toxicCallBound)
	}
}

// put writes key of size bytes to the origin; with stored, also to the
// target (a hit). The write to MinIO is tried up to three times: the
// store's client does not retry, and a keep-alive connection MinIO closed
// meanwhile (cases run in parallel) breaks a PUT now and then.
func (w *world) put(key string, size int, stored bool) {
	w.t.Helper()
	if err := w.origin.Put(key, size); err != nil {
		w.t.Fatal(err)
	}
	if !stored {
		return
	}
	var err error
	for range 3 {
		if err = w.target.WriteAll(context.Background(), key, sampleorigin.Content(key, size), nil); err == nil {
			return
		}
	}
	w.t.Fatal(err)
}

// content is what the origin holds for key (nil when it has no such file).
func (w *world) content(key string) []byte {
	b, err := os.ReadFile(filepath.Join(w.origin.Dir, filepath.FromSlash(key)))
	if err != nil {
		return nil
	}
	return b
}

// serveProc is one ferry serve process.
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	data   string // http://addr
	admin  string // http://addr
	out    *syncBuffer
	exited chan struct{}
}

// serveConfig is the config file of serve in w: target and origin through
// the proxies, origin timeouts short enough that stalls end within a case,
// long enough that a loaded machine does not starve a slow but steady
// transfer into one, and than the time TestServeKilledMidFill's clients
// need to start while the origin holds their fills (6s was too short at a
// load average of 15). The write idle timeout also covers the clients of
// TestToxics that pause mid-body until every request has started.
func (w *world) serveConfig(dataAddr, adminAddr string) string {
	cfg := fmt.Sprintf(`# chaos test
target: "s3://%s?endpoint=http://%s&region=us-east-1"
state_dir: %s
log_level: warn
rules:
%s  - origin: http://%s/
serve:
  listen: %s
  admin_listen: %s
  access_log: false
  spool_dir: %s
  connect_timeout: 2s
  origin_header_timeout: 5s
  origin_idle_timeout: 15s
  write_idle_timeout: 10s
  grace: 2s
`, w.bucket, w.toTarget.Listen, filepath.Join(w.dir, "state"), w.rules, w.toOrigin.Listen, dataAddr, adminAddr, w.spool)
	p := filepath.Join(w.dir, "ferry.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// startServe runs ferry serve on fresh ports and waits until /readyz is 200.
func (w *world) startServe() *serveProc {
	w.t.Helper()
	dataAddr, err := demo.FreeAddr()
	if err != nil {
		w.t.Fatal(err)
	}
	adminAddr, err := demo.FreeAddr()
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := w.serveConfig(dataAddr, adminAddr)
	p := &serveProc{t: w.t, data: "http://" + dataAddr, admin: "http://" + adminAddr, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(ferryBinary(w.t), "serve", "--config", cfg)
	p.cmd.Dir = w.dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "AWS_CA_BUNDLE=")
	if err := miniotest.StartChild(p.cmd); err != nil { // killed with the test binary
		w.t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	w.t.Cleanup(p.kill)
	p.waitReady(60 * time.Second)
	return p
}

func (p *serveProc) waitReady(d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		select {
		case <-p.exited:
			p.t.Fatalf("serve exited: %v\n%s", p.cmd.ProcessState, p.out.String())
		default:
		}
		if p.ready() {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("serve not ready after %v\n%s", d, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *serveProc) ready() bool {
	resp, err := http.Get(p.admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill ends serve with SIGKILL (a crash) and waits for it.
func (p *serveProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop ends serve with SIGTERM and checks that it drained and exited 0.
func (p *serveProc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("serve did not stop within 60s after SIGTERM\n%s", p.out.String())
	}
	if !p.cmd.ProcessState.Success() {
		p.t.Errorf("serve exited %v after SIGTERM\n%s", p.cmd.ProcessState, p.out.String())
	}
}

// metric reads an unlabelled metric from serve's /metrics.
func (p *serveProc) metric(name string) (float64, error) {
	return demo.MetricValue(context.Background(), p.admin+"/metrics", name)
}

// settle waits until serve has no fill in flight.
func (p *serveProc) settle() {
	p.t.Helper()
	eventually(p.t, 90*time.Second, "serve's fills to end", func() bool {
		n, err := p.metric("ferry_mirror_fills_in_flight")
		return err == nil && n == 0
	})
}

// eventually polls cond until it holds or d passes (then the test fails
// naming what it waited for).
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// answer is what one client GET saw.
type answer struct {
	status int
	how    string // X-Ferry-Mirror
	body   []byte
	err    error // no response, or the body broke off
	inBody bool  // err happened while reading the body
	took   time.Duration
}

// judge says what a GET of key that the origin holds as want must never
// look like, and returns its outcome for the tallies. A 200 must carry
// every byte or end in an error; an error status must be an S3 XML error.
func judge(key string, want []byte, a answer) (outcome string, problem error) {
	switch {
	case a.err != nil && !a.inBody:
		return "no answer", fmt.Errorf("GET %s: no answer: %v", key, a.err)
	case a.status == http.StatusOK && a.err != nil:
		return "200 aborted", nil
	case a.status == http.StatusOK && !bytes.Equal(a.body, want):
		return "200 SHORT", fmt.Errorf("GET %s: a clean 200 with %d of %d bytes (%s)", key, len(a.body), len(want), a.how)
	case a.status == http.StatusOK:
		return "200 " + a.how, nil
	case a.err != nil:
		return fmt.Sprintf("%d aborted", a.status), fmt.Errorf("GET %s: error status %d with a broken body: %v", key, a.status, a.err)
	}
	var e struct {
		Code string `xml:"Code"`
	}
	if err := xml.Unmarshal(a.body, &e); err != nil || e.Code == "" {
		return fmt.Sprint(a.status), fmt.Errorf("GET %s: status %d without an S3 XML error: %q", key, a.status, a.body)
	}
	if a.status == http.StatusNotFound {
		return "404 " + e.Code, fmt.Errorf("GET %s: 404 %s for a key the origin holds", key, e.Code)
	}
	return fmt.Sprintf("%d %s", a.status, e.Code), nil
}

// get sends one GET and reads the body; after the first head bytes it
// calls pause (if not nil) before reading on.
func get(ctx context.Context, c *http.Client, url string, head int, pause func()) answer {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return answer{err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		if pause != nil {
			pause()
		}
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, how: resp.Header.Get("X-Ferry-Mirror")}
	var buf bytes.Buffer
	_, err = io.CopyN(&buf, resp.Body, int64(head))
	if pause != nil {
		pause()
	}
	if err == nil {
		_, err = io.Copy(&buf, resp.Body)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	a.body, a.err, a.inBody, a.took = buf.Bytes(), err, err != nil, time.Since(start)
	return a
}

// tally counts outcomes and keeps problems, safe for concurrent clients.
type tally struct {
	mu       sync.Mutex
	outcomes map[string]int
	problems []string
}

func (ty *tally) add(outcome string, problem error) {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	if ty.outcomes == nil {
		ty.outcomes = map[string]int{}
	}
	ty.outcomes[outcome]++
	if problem != nil {
		ty.problems = append(ty.problems, problem.Error())
	}
}

func (ty *tally) count(prefix string) int {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	n := 0
	for k, v := range ty.outcomes {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func (ty *tally) String() string {
	ty.mu.Lock()
	defer ty.mu.Unlock()
	return fmt.Sprint(ty.outcomes)
}

// check fails t with the first problems seen.
func (ty *tally) check(t *testing.T) {
	t.Helper()
	ty.mu.Lock()
	defer ty.mu.Unlock()
	if len(ty.problems) > 0 {
		t.Errorf("%d client problems (outcomes %v), e.g.:\n  %s", len(ty.problems), ty.outcomes,
			strings.Join(ty.problems[:min(5, len(ty.problems))], "\n  "))
	}
}

// assertWhole checks that every object in the target under prefix has
// exactly the origin's bytes, and returns how many there are.
func (w *world) assertWhole(prefix string) int {
	w.t.Helper()
	ctx := context.Background()
	n := 0
	it := w.target.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return n
		}
		if err != nil {
			w.t.Fatal(err)
		}
		got, err := w.target.ReadAll(ctx, obj.Key)
		if err != nil {
			w.t.Fatal(err)
		}
		if want := w.content(obj.Key); !bytes.Equal(got, want) {
			w.t.Errorf("target holds a partial or wrong %s: %d bytes, the origin has %d", obj.Key, len(got), len(want))
		}
		n++
	}
}

// assertNoUploads waits until MinIO lists no multipart upload in the bucket
// (an abort runs on its own context, it may land just after the fill ends).
func (w *world) assertNoUploads() {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n := w.minio.PendingUploads(w.t, w.bucket); n != 0; n = w.minio.PendingUploads(w.t, w.bucket) {
		if time.Now().After(deadline) {
			w.t.Errorf("%d multipart uploads left pending 30s after the fills ended", n)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer collects a process's output.
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

package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
)

type runEnv struct {
	srv        *Server
	base, adm  string
	origin     *testOrigin
	cancel     context.CancelFunc
	done       chan error
	cfgFile    string
	hup        chan os.Signal
	targetRoot string
}

// startRun runs a Server on loopback listeners; its settings come from a
// small file ("domain", "path" or "bad") re-read on reload.
func startRun(t *testing.T, grace time.Duration, mod ...func(*Options)) *runEnv {
	t.Helper()
	b, dir := fileTarget(t)
	if err := b.WriteAll(context.Background(), "k", []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	re := &runEnv{origin: newTestOrigin(t), done: make(chan error, 1), hup: make(chan os.Signal, 1), targetRoot: dir}
	m, err := mirror.New(mirror.Options{Target: b, SpoolDir: t.TempDir(), Via: DefaultVia})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	re.cfgFile = filepath.Join(t.TempDir(), "settings")
	writeSettings(t, re.cfgFile, "domain")
	load := func(context.Context) (Settings, error) {
		data, err := os.ReadFile(re.cfgFile)
		if err != nil {
			return Settings{}, err
		}
		return Settings{Addressing: strings.TrimSpace(string(data)), Bucket: testBucket, Rules: originRules(re.origin.URL)}, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := load(context.Background())
	o := Options{Target: b, Mirror: m, Listener: ln, AdminListener: aln,
		Settings: st, Reload: load, WatchFile: re.cfgFile, WatchInterval: 20 * time.Millisecond,
		ReloadSignal: re.hup, Grace: grace}
	for _, m := range mod {
		m(&o)
	}
	re.srv, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	re.base, re.adm = "http://"+ln.Addr().String(), "http://"+aln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	re.cancel = cancel
	go func() { re.done <- re.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-re.done
	})
	return re
}

// writeSettings replaces file in one rename, so the watcher never sees it
// truncated or with its old mtime (which would be an extra reload, of
// empty settings).
func writeSettings(t *testing.T, file, s string) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(s+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Make the change visible to an mtime check even on coarse clocks.
	future := time.Now().Add(time.Duration(len(s)) * time.Second)
	_ = os.Chtimes(tmp, future, future)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// eventually waits for cond, polling; the deadline is generous because the
// machine may be loaded, and only a failing test waits for all of it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out (30s) waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func reloads(t *testing.T, re *runEnv, result string) string {
	r := doURL(t, "GET", re.adm+"/metrics")
	for _, line := range strings.Split(r.body, "\n") {
		if strings.HasPrefix(line, `ferry_serve_config_reloads_total{result="`+result+`"}`) {
			return strings.Fields(line)[1]
		}
	}
	return "0"
}

func TestReload(t *testing.T) {
	leakCheck(t)
	re := startRun(t, 5*time.Second)
	if r := doURL(t, "GET", re.base+"/k"); r.status != 200 || r.body != "v" {
		t.Fatalf("domain GET: %d", r.status)
	}
	if r := doURL(t, "GET", re.adm+"/readyz"); r.status != 200 {
		t.Errorf("readyz: %d %s", r.status, r.body)
	}
	if r := doURL(t, "GET", re.adm+"/healthz"); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}

	writeSettings(t, re.cfgFile, "path")
	eventually(t, "the file change to be picked up", func() bool {
		return doURL(t, "GET", re.base+"/"+testBucket+"/k").status == 200
	})

	// An invalid configuration is refused; the old one keeps serving.
	writeSettings(t, re.cfgFile, "bad")
	eventually(t, "a refused reload", func() bool { return reloads(t, re, "refused") == "1" })
	if r := doURL(t, "GET", re.base+"/"+testBucket+"/k"); r.status != 200 {
		t.Errorf("after a refused reload: %d", r.status)
	}
	// SIGHUP reloads too (still invalid: refused again).
	re.hup <- syscall.SIGHUP
	eventually(t, "a reload on SIGHUP", func() bool { return reloads(t, re, "refused") == "2" })
	if got := re.srv.Settings().Addressing; got != AddressingPath {
		t.Errorf("addressing %q after refused reloads, want path", got)
	}
	writeSettings(t, re.cfgFile, "domain")
	eventually(t, "the fixed file", func() bool { return doURL(t, "GET", re.base+"/k").status == 200 })
	if reloads(t, re, "ok") != "2" {
		t.Errorf("ok reloads %s, want 2", reloads(t, re, "ok"))
	}
}

// TestGracefulShutdown: on cancel, readiness fails, no new connections are
// accepted, an in-flight transfer completes, and Run returns nil.
func TestGracefulShutdown(t *testing.T) {
	leakCheck(t)
	re := startRun(t, 5*time.Second)
	gate := make(chan struct{})
	re.origin.set("slow", hundred)
	re.origin.setGate(gate)
	resp, err := http.Get(re.base + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	re.cancel()
	eventually(t, "readyz to fail", func() bool { return doURL(t, "GET", re.adm+"/readyz").status == 503 })
	eventually(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", strings.TrimPrefix(re.base, "http://"))
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-re.done:
		t.Fatalf("Run returned %v with a transfer in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != hundred {
		t.Errorf("in-flight transfer: %v, %d bytes", err, len(body))
	}
	select {
	case err := <-re.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		re.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
}

// TestShutdownGraceExpires: a transfer that outlives the grace period is
// cut (the client sees an error), and Run still returns nil.
func TestShutdownGraceExpires(t *testing.T) {
	leakCheck(t)
	re := startRun(t, 200*time.Millisecond)
	gate := make(chan struct{})
	defer close(gate)
	re.origin.set("stuck", hundred)
	re.origin.setGate(gate)
	resp, err := http.Get(re.base + "/stuck")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	re.cancel()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("a cut transfer looked complete")
	}
	if err := <-re.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	re.done <- nil
	if d := time.Since(start); d > 20*time.Second { // bounded by the grace, not by the stuck transfer
		t.Errorf("Run took %v with a 200ms grace", d)
	}
}

// TestFileChangesSettle: a change is reported once the file kept its new
// mtime and size for one more poll, so a file seen while being written
// (truncated, then the final size, then the final mtime) is loaded once, in
// its final state; a file that goes away is never reported, its return is.
func TestFileChangesSettle(t *testing.T) {
	v1 := fileStamp{mod: 1, size: 10}
	c := fileChanges{loaded: v1}
	missing := fileStamp{err: os.ErrNotExist}
	for i, step := range []struct {
		st   fileStamp
		want bool
	}{
		{v1, false},
		{fileStamp{mod: 2, size: 0}, false}, // truncated
		{fileStamp{mod: 2, size: 7}, false}, // written, old mtime
		{fileStamp{mod: 9, size: 7}, false}, // final mtime
		{fileStamp{mod: 9, size: 7}, true},  // settled: reload
		{fileStamp{mod: 9, size: 7}, false},
		{missing, false},
		{missing, false}, // gone: keep the configuration
		{missing, false},
		{fileStamp{mod: 12, size: 7}, false},
		{fileStamp{mod: 12, size: 7}, true}, // back, settled
	} {
		if got := c.changed(step.st); got != step.want {
			t.Errorf("poll %d (%+v): changed %v, want %v", i+1, step.st, got, step.want)
		}
	}
}

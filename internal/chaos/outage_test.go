package chaos

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
)

// outageBound is the longest serve may take to answer while the target is
// down: the target's connection is refused, so it is the SDK's retries, far
// below the configured timeouts (10s connect, 60s response headers).
const outageBound = 20 * time.Second

// TestTargetOutage: MinIO is killed under load and restarted. While it is
// down every answer is an S3 XML error (or a broken body for a transfer
// that was mid-way) within outageBound, /readyz says 503; once it is back
// serve answers every key whole without a restart, and nothing partial or
// pending is left in the bucket.
func TestTargetOutage(t *testing.T) {
	long(t)
	t.Parallel()
	mc := miniotest.Start(t)
	w := newWorld(t, mc)
	p := w.startServe()
	var keys []string
	for i := range 10 {
		k := fmt.Sprintf("o/hit-%02d", i)
		w.put(k, 256<<10, true)
		keys = append(keys, k)
	}
	for i := range 80 {
		k := fmt.Sprintf("o/miss-%03d", i)
		w.put(k, 64<<10+i*4096, false)
		keys = append(keys, k)
	}

	l := startLoad(w, p, keys, 16)
	l.waitAnswers(t, 50, "before the outage")
	mc.Kill()
	down := time.Now()
	l.reset()
	l.waitAnswers(t, 50, "during the outage")
	if p.ready() {
		t.Error("/readyz is 200 while the target is down")
	}
	during := l.stopPhase()
	mc.Restart(t)
	t.Logf("MinIO down %v; answers during the outage: %v (slowest %v)", time.Since(down).Round(time.Millisecond), during.String(), l.slowest())
	during.check(t)
	if n := during.count("200 aborted") + during.count("5") + during.count("424"); n == 0 {
		t.Errorf("no request failed while MinIO was down: %v", during.String())
	}
	if s := l.slowest(); s > outageBound {
		t.Errorf("an answer took %v during the outage (bound %v)", s, outageBound)
	}

	eventually(t, 60*time.Second, "serve ready after MinIO restarted", p.ready)
	l.reset()
	l.waitWhole(t, keys)
	l.stop()
	after := l.stopPhase()
	after.check(t)
	t.Logf("after the restart: %v", after.String())
	p.settle()
	w.assertWhole("o/")
	w.assertNoUploads()
	p.stop()
}

// load keeps n clients sending GETs for random keys until stopped; each
// phase (since reset) has its own tally.
type load struct {
	w      *world
	p      *serveProc
	keys   []string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	phase    *tally
	answers  atomic.Int64 // in this phase
	maxTook  atomic.Int64 // nanoseconds, this phase
	wholeFor map[string]bool
}

func startLoad(w *world, p *serveProc, keys []string, n int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{w: w, p: p, keys: keys, cancel: cancel, phase: &tally{}, wholeFor: map[string]bool{}}
	for c := range n {
		l.wg.Add(1)
		go l.client(ctx, c)
	}
	w.t.Cleanup(l.stop)
	return l
}

func (l *load) client(ctx context.Context, c int) {
	defer l.wg.Done()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	for i := c; ctx.Err() == nil; i += 7 {
		k := l.keys[(i*31+c)%len(l.keys)]
		rctx, cancel := context.WithTimeout(ctx, 2*outageBound)
		a := get(rctx, client, l.p.data+"/"+k, 0, nil)
		cancel()
		if ctx.Err() != nil {
			return
		}
		outcome, problem := judge(k, l.w.content(k), a)
		l.mu.Lock()
		l.phase.add(outcome, problem)
		if outcome == "200 hit" || outcome == "200 fill" || outcome == "200 coalesced" {
			l.wholeFor[k] = true
		}
		l.mu.Unlock()
		l.answers.Add(1)
		if d := int64(a.took); d > l.maxTook.Load() {
			l.maxTook.Store(d)
		}
	}
}

// reset starts a new phase.
func (l *load) reset() {
	l.mu.Lock()
	l.phase, l.wholeFor = &tally{}, map[string]bool{}
	l.mu.Unlock()
	l.answers.Store(0)
	l.maxTook.Store(0)
}

func (l *load) stopPhase() *tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase
}

func (l *load) slowest() time.Duration { return time.Duration(l.maxTook.Load()) }

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// waitAnswers waits until the clients got n answers in this phase.
func (l *load) waitAnswers(t *testing.T, n int64, when string) {
	t.Helper()
	eventually(t, 120*time.Second, fmt.Sprintf("%d answers %s (have %d)", n, when, l.answers.Load()),
		func() bool { return l.answers.Load() >= n })
}

// waitWhole waits until every key was answered whole in this phase.
func (l *load) waitWhole(t *testing.T, keys []string) {
	t.Helper()
	missing := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		n := 0
		for _, k := range keys {
			if !l.wholeFor[k] {
				n++
			}
		}
		return n
	}
	eventually(t, 120*time.Second, "every key answered whole after the restart", func() bool { return missing() == 0 })
}

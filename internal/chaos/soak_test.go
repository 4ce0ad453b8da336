package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
)

// The soak runs for soakFor (and until every kind of answer was seen),
// 20 s rather than the minute to keep the suite's time in CI
// modest: at 64 connections that is still hundreds of requests of every
// kind even on a badly loaded machine (475 in 29 s at a load average of
// 20) and five rounds of origin resets, and the leaks it looks for (a
// goroutine, an fd or a buffer per request or per failed fill) grow with
// the number of requests, so hundreds put them far above the slack.
const (
	soakFor   = 20 * time.Second
	soakConns = 64
	groupSize = 4 // clients of one coalesced fill
	// Bounds on what may stay above the baseline after the soak: a leak of
	// one goroutine or fd per request (thousands) is far above them.
	slackGoroutines = 100
	slackFds        = 64
	slackRSS        = 256 << 20
)

// usage is what serve holds: resident memory, open fds, goroutines.
type usage struct {
	rss        int64
	fds        int
	goroutines int
}

func (u usage) String() string {
	return fmt.Sprintf("RSS %.1f MiB, %d fds, %d goroutines", float64(u.rss)/(1<<20), u.fds, u.goroutines)
}

func measure(t *testing.T, p *serveProc) usage {
	t.Helper()
	pid := p.cmd.Process.Pid
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.metric("go_goroutines")
	if err != nil {
		t.Fatal(err)
	}
	return usage{rss: rssOf(t, pid), fds: len(ents), goroutines: int(g)}
}

func rssOf(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// soak is the mixed load: hits, fresh misses, coalesced fills by groups of
// clients, keys the origin fails, and keys whose origin connection is reset
// (resetPrefix, routed through a proxy that resets every connection).
type soak struct {
	w    *world
	p    *serveProc
	hits []string
	seq  atomic.Int64
	ty   tally
	reqs atomic.Int64
	// answers to keys under resetPrefix, and how many of them were whole
	// 200s (none should be: the proxy resets every connection).
	resets, resetWhole atomic.Int64
}

const resetPrefix = "s/reset-"

// ask GETs key and tallies the answer.
func (s *soak) ask(client *http.Client, key string, head int, pause func()) {
	outcome, problem := judge(key, s.w.content(key), get(context.Background(), client, s.p.data+"/"+key, head, pause))
	s.ty.add(outcome, problem)
	s.reqs.Add(1)
	if strings.HasPrefix(key, resetPrefix) {
		s.resets.Add(1)
		if problem == nil && strings.HasPrefix(outcome, "200 ") && outcome != "200 aborted" {
			s.resetWhole.Add(1)
		}
	}
}

// TestSoak runs the mixed load at 64 connections for soakFor (and until
// every kind of answer was seen), then checks that serve's memory, fds and
// goroutines came back near the baseline measured after a warm-up, that
// nothing partial is stored and no upload is pending.
func TestSoak(t *testing.T) {
	long(t)
	t.Parallel()
	w := newWorld(t, miniotest.Get(t))
	s := &soak{w: w}
	for i := range 100 {
		k := fmt.Sprintf("s/hit-%03d", i)
		w.put(k, 4<<10+i*2048, true)
		s.hits = append(s.hits, k)
	}
	w.origin.FailWith(func(k string) bool { return strings.HasPrefix(k, "s/fail-") }, http.StatusInternalServerError)
	w.faultyOrigin(resetPrefix, "reset_peer", map[string]any{"timeout": 50})
	s.p = w.startServe()

	s.run(t, 0) // warm-up: one round of each kind at full concurrency
	base := s.quiet(t)
	t.Logf("baseline after warm-up (%d requests): %s", s.reqs.Load(), base)

	start := time.Now()
	s.run(t, soakFor)
	t.Logf("soak: %d requests in %v at %d connections: %v", s.reqs.Load(), time.Since(start).Round(time.Second), soakConns, s.ty.String())
	s.ty.check(t)
	for _, want := range []string{"200 hit", "200 fill", "200 coalesced", "424 MirrorFailed"} {
		if s.ty.count(want) == 0 {
			t.Errorf("the soak saw no %q answer: %v", want, s.ty.String())
		}
	}
	t.Logf("%d answers to keys whose origin connection was reset, %d of them whole 200s", s.resets.Load(), s.resetWhole.Load())
	if s.resets.Load() == 0 || s.resetWhole.Load() == s.resets.Load() {
		t.Errorf("the origin resets broke none of the %d answers to %s keys", s.resets.Load(), resetPrefix)
	}
	var after usage
	eventually(t, 60*time.Second, "serve's goroutines and fds back near the baseline", func() bool {
		after = s.quiet(t)
		return after.goroutines <= base.goroutines+slackGoroutines && after.fds <= base.fds+slackFds
	})
	t.Logf("after the soak: %s (baseline %s)", after, base)
	if after.rss > base.rss+slackRSS {
		t.Errorf("RSS %d MiB after the soak, baseline %d MiB", after.rss>>20, base.rss>>20)
	}
	w.assertWhole("s/")
	w.assertNoUploads()
	if !s.p.ready() {
		t.Error("serve not ready after the soak")
	}
	s.p.stop()
}

// quiet waits for serve's fills to end and measures it.
func (s *soak) quiet(t *testing.T) usage {
	s.p.settle()
	return measure(t, s.p)
}

// run keeps soakConns clients busy for d (0: one round each) and until
// every kind of answer was seen.
func (s *soak) run(t *testing.T, d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	until := time.Now().Add(d)
	more := func() bool {
		return ctx.Err() == nil && (time.Now().Before(until) || s.ty.count("200 coalesced") == 0 || s.ty.count("424") == 0)
	}
	var clients sync.WaitGroup
	for c := range soakConns - groupSize*4 {
		clients.Add(1)
		go func() { defer clients.Done(); s.single(c, d == 0, more) }()
	}
	for g := range 4 {
		clients.Add(1)
		go func() { defer clients.Done(); s.group(g, d == 0, more) }()
	}
	done := make(chan struct{})
	go func() { clients.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d + 120*time.Second):
		cancel()
		<-done
		t.Fatalf("the soak did not see every kind of answer within %v: %v", d+120*time.Second, s.ty.String())
	}
}

// originPut adds a file to the origin (a problem for the tally if it fails).
func (s *soak) originPut(key string, size int) {
	if err := s.w.origin.Put(key, size); err != nil {
		s.ty.add("origin put", err)
	}
}

// single is one client of hits, fresh misses, failing keys and reset keys.
func (s *soak) single(c int, once bool, more func() bool) {
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	for i := 0; ; i++ {
		var k string
		switch i % 5 {
		case 0, 1:
			k = s.hits[(c*7+i)%len(s.hits)]
		case 2:
			n := s.seq.Add(1)
			k = fmt.Sprintf("s/miss-%06d", n)
			s.originPut(k, 1<<10+int(n%64)<<12)
		case 3:
			k = fmt.Sprintf("s/fail-%06d", s.seq.Add(1))
			s.originPut(k, 1<<10)
		case 4:
			k = fmt.Sprintf("%s%06d", resetPrefix, s.seq.Add(1))
			s.originPut(k, 1<<10)
		}
		s.ask(client, k, 0, nil)
		if (once && i == 4) || (!once && !more()) {
			return
		}
	}
}

// group runs rounds of groupSize clients reading one fresh key together;
// the origin holds the body halfway until every client has its headers, so
// all but one join the fill (coalesced). Every third round's key is one
// whose origin connection is reset, so the whole group sees the fill fail.
func (s *soak) group(g int, once bool, more func() bool) {
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: groupSize}}
	defer client.CloseIdleConnections()
	for round := 0; ; round++ {
		name := "s/shared-"
		if round%3 == 2 {
			name = resetPrefix + "shared-"
		}
		k := fmt.Sprintf("%s%06d", name, s.seq.Add(1))
		s.originPut(k, 1<<20)
		release := s.w.origin.Hold(k)
		var heads, done sync.WaitGroup
		heads.Add(groupSize)
		for range groupSize {
			done.Add(1)
			go func() {
				defer done.Done()
				s.ask(client, k, 1, heads.Done)
			}()
		}
		heads.Wait()
		release()
		done.Wait()
		if once || !more() {
			return
		}
	}
}

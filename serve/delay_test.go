package serve

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sender is a client loop that keeps sending GET /k until stopped.
type sender struct {
	name   string
	client *http.Client
	ok     atomic.Int64 // answered 200 with the body
	after  atomic.Int64 // of those, sent once /readyz was seen draining
	closed atomic.Int64 // of those, answered with Connection: close
	errs   atomic.Int64
	mu     sync.Mutex
	first  string // the first error
}

func (s *sender) run(url string, draining, stop *atomic.Bool) {
	for !stop.Load() {
		late := draining.Load()
		err := s.once(url, late)
		if err != nil {
			s.errs.Add(1)
			s.mu.Lock()
			if s.first == "" {
				s.first = err.Error()
			}
			s.mu.Unlock()
		}
	}
}

func (s *sender) once(url string, late bool) error {
	resp, err := s.client.Get(url)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(body) != "v" {
		return fmt.Errorf("status %d, body %q, err %v", resp.StatusCode, body, err)
	}
	s.ok.Add(1)
	if late {
		s.after.Add(1)
		if resp.Close {
			s.closed.Add(1)
		}
	}
	return nil
}

// TestShutdownDelayNoErrors: clients that keep sending through a stop (one
// on keep-alive connections, one dialling for every request) see no refused
// connection and no error. Once Run's context is cancelled, /readyz answers
// 503 "draining" while the listener keeps serving, with Connection: close;
// the drain begins only after the delay. The test plays the load balancer:
// it stops sending once it has seen the 503 and enough answers after it, and
// then ends the delay (a delay the test would wait out could be too short on
// a loaded machine).
func TestShutdownDelayNoErrors(t *testing.T) {
	leakCheck(t)
	re := startRun(t, 5*time.Second, func(o *Options) { o.ShutdownDelay = time.Hour })
	senders := []*sender{
		{name: "keep-alive", client: &http.Client{Transport: &http.Transport{}}},
		{name: "new connections", client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}},
	}
	var draining, stop atomic.Bool
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() { s.run(re.base+"/k", &draining, &stop) })
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
		for _, s := range senders {
			s.client.CloseIdleConnections()
		}
	}()
	eventually(t, "both clients to get answers", func() bool {
		return senders[0].ok.Load() >= 5 && senders[1].ok.Load() >= 5
	})

	re.cancel()
	eventually(t, "/readyz to answer 503 draining", func() bool {
		r := doURL(t, "GET", re.adm+"/readyz")
		return r.status == 503 && strings.TrimSpace(r.body) == "draining"
	})
	draining.Store(true)
	if r := doURL(t, "GET", re.adm+"/healthz"); r.status != 200 {
		t.Errorf("healthz during the shutdown delay: %d (a liveness probe would kill the pod)", r.status)
	}
	eventually(t, "20 answers to each client after /readyz turned 503 (or an error)", func() bool {
		failed := senders[0].errs.Load()+senders[1].errs.Load() > 0
		return failed || senders[0].after.Load() >= 20 && senders[1].after.Load() >= 20
	})
	stop.Store(true)
	wg.Wait()
	for _, s := range senders {
		if n := s.errs.Load(); n > 0 {
			t.Errorf("%s client: %d errors through the stop, first: %s", s.name, n, s.first)
		}
	}
	if ka := senders[0]; ka.closed.Load() != ka.after.Load() {
		t.Errorf("keep-alive client: %d of %d answers while draining said Connection: close", ka.closed.Load(), ka.after.Load())
	}
	select {
	case err := <-re.done:
		re.done <- err // for the cleanup
		t.Fatalf("Run returned (%v) during the shutdown delay", err)
	default:
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(re.base, "http://"))
	if err != nil {
		t.Fatalf("listener refused a connection during the shutdown delay: %v", err)
	}
	c.Close()

	re.srv.cutDelay()
	select {
	case err := <-re.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		re.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s after the shutdown delay ended")
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(re.base, "http://")); err == nil {
		c.Close()
		t.Error("the listener still accepts after Run returned")
	}
}

// TestShutdownDelayElapses: without anyone ending it, the delay runs out by
// itself and Run drains and returns nil.
func TestShutdownDelayElapses(t *testing.T) {
	leakCheck(t)
	re := startRun(t, 5*time.Second, func(o *Options) { o.ShutdownDelay = 50 * time.Millisecond })
	re.cancel()
	select {
	case err := <-re.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		re.done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s with a 50ms shutdown delay")
	}
}

func TestShutdownDelayNegative(t *testing.T) {
	b, _ := fileTarget(t)
	_, err := New(Options{Target: b, ShutdownDelay: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "serve.shutdown_delay") {
		t.Errorf("negative delay: %v, want an error naming serve.shutdown_delay", err)
	}
}

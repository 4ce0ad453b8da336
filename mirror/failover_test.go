package mirror

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/rules"
)

// asked is one request a recOrigin received.
type asked struct {
	method, path, host, rng, ifRange string
}

// recOrigin is an httptest origin that records what it was asked and
// answers with h (which may fail in any way).
type recOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []asked
}

func newRecOrigin(t *testing.T, h http.HandlerFunc) *recOrigin {
	o := &recOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.reqs = append(o.reqs, asked{r.Method, r.URL.Path, r.Host, r.Header.Get("Range"), r.Header.Get("If-Range")})
		o.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *recOrigin) asked() []asked {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.reqs)
}

// serveBody answers every request with body (200, Content-Length, ETag).
func serveBody(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("ETag", `"b"`)
		_, _ = w.Write(body)
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

// downURL is the URL of an origin that refuses connections.
func downURL(t *testing.T) string {
	o := httptest.NewServer(http.NotFoundHandler())
	u := o.URL
	o.Close()
	return u
}

// failoverReq is a request for key under one rule with these origins.
func failoverReq(key string, policy []string, origins ...rules.Origin) Request {
	r := rules.Rule{OriginList: origins, FailoverOn: policy, FollowRedirects: true, MirrorHead: true}
	return Request{Rules: ruleSet(&r), Key: key, Header: http.Header{}}
}

// A fill goes down the origins in order on a 5xx and a refused connection;
// each origin gets its own path prefix and Host; the journal, the observer
// and the log say which origin answered.
func TestFailoverOrder(t *testing.T) {
	leakCheck(t)
	body := payload(300<<10, 7)
	a := newRecOrigin(t, status(http.StatusServiceUnavailable))
	c := newRecOrigin(t, serveBody(body))
	obs := &observer{}
	e := newEnv(t, targets[1].open(t), func(o *Options) { o.Observer = obs })
	req := failoverReq("img/k.bin", nil,
		rules.Origin{URL: a.URL + "/a/", Host: "a.example"},
		rules.Origin{URL: downURL(t) + "/b/"},
		rules.Origin{URL: c.URL + "/c/", Host: "c.example"})
	res, err := e.fill(context.Background(), req)
	if err != nil || !res.Stored || res.Bytes != int64(len(body)) {
		t.Fatalf("fill: %+v, %v", res, err)
	}
	if got := e.stored("img/k.bin"); sha(got) != sha(body) {
		t.Fatal("stored body differs from the third origin's")
	}
	if got := a.asked(); len(got) != 1 || got[0].path != "/a/img/k.bin" || got[0].host != "a.example" {
		t.Errorf("origin 1 asked %+v", got)
	}
	if got := c.asked(); len(got) != 1 || got[0].path != "/c/img/k.bin" || got[0].host != "c.example" {
		t.Errorf("origin 3 asked %+v", got)
	}
	obs.mu.Lock()
	failovers, answered := obs.failovers, obs.answered
	obs.mu.Unlock()
	if !slices.Equal(failovers, []string{"1/status", "2/network"}) || !slices.Equal(answered, []int{3}) {
		t.Errorf("observer: failovers %v, answered %v", failovers, answered)
	}
	if en := e.entries(); len(en) != 1 || en[0].Origin != 3 || en[0].Result != OutcomeStored {
		t.Errorf("journal %+v", en)
	}
}

// failover_on decides what moves a fill on; what it does not name is the
// answer.
func TestFailoverPolicy(t *testing.T) {
	leakCheck(t)
	body := []byte("from the second origin")
	cases := []struct {
		name    string
		primary http.HandlerFunc
		down    bool
		policy  []string
		next    bool   // the second origin is asked
		reason  string // when not: the failure's reason ("" = ErrNotFound)
	}{
		{"404 by default", status(404), false, nil, false, ""},
		{"404 named", status(404), false, []string{"network", "timeout", "5xx", "404"}, true, ""},
		{"403 by default", status(403), false, nil, false, "status"},
		{"403 under 4xx", status(403), false, []string{"4xx"}, true, ""},
		{"502 under [404]", status(502), false, []string{"404"}, false, "status"},
		{"429 named", status(429), false, []string{"429"}, true, ""},
		{"refused under [5xx]", nil, true, []string{"5xx"}, false, "network"},
		{"refused by default", nil, true, nil, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			second := newRecOrigin(t, serveBody(body))
			primary := downURL(t)
			if !c.down {
				primary = newRecOrigin(t, c.primary).URL
			}
			e := newEnv(t, targets[0].open(t), nil)
			req := failoverReq("k", c.policy, rules.Origin{URL: primary + "/"}, rules.Origin{URL: second.URL + "/"})
			res, err := e.fill(context.Background(), req)
			if n := len(second.asked()); (n == 1) != c.next || n > 1 {
				t.Fatalf("second origin asked %d times", n)
			}
			switch {
			case c.next:
				if err != nil || !res.Stored || string(e.stored("k")) != string(body) {
					t.Fatalf("fill: %+v, %v", res, err)
				}
			case c.reason == "":
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("err = %v, want not found", err)
				}
				e.assertClean()
			default:
				if got := failedReason(err); got != c.reason {
					t.Fatalf("err = %v (reason %q), want %q", err, got, c.reason)
				}
				e.assertClean()
			}
		})
	}
}

// An origin that sends no headers within the header timeout is a timeout,
// which fails over by default.
func TestFailoverOnTimeout(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	stall := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	second := newRecOrigin(t, serveBody([]byte("ok")))
	obs := &observer{}
	e := newEnv(t, targets[0].open(t), func(o *Options) {
		o.HeaderTimeout = 200 * time.Millisecond
		o.Observer = obs
	})
	req := failoverReq("k", nil, rules.Origin{URL: stall.URL + "/"}, rules.Origin{URL: second.URL + "/"})
	if _, err := e.fill(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Equal(obs.failovers, []string{"1/timeout"}) || len(second.asked()) != 1 {
		t.Fatalf("failovers %v, second asked %d", obs.failovers, len(second.asked()))
	}
}

// A primary that dies mid-body after bytes reached a reader is not retried
// on the next origin: the reader gets an error, nothing is stored, the
// journal names origin 1.
func TestFailoverNeverAfterBytes(t *testing.T) {
	leakCheck(t)
	body := payload(1<<20, 3)
	die := make(chan struct{})
	primary := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body[:64<<10])
		w.(http.Flusher).Flush()
		<-die
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	})
	second := newRecOrigin(t, serveBody(body))
	e := newEnv(t, targets[1].open(t), nil)
	req := failoverReq("k", []string{"network", "timeout", "5xx", "404"},
		rules.Origin{URL: primary.URL + "/"}, rules.Origin{URL: second.URL + "/"})
	s, err := e.m.Get(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.NewReader(0, -1)
	defer r.Close()
	first := make([]byte, 1000)
	if _, err := io.ReadFull(r, first); err != nil || string(first) != string(body[:1000]) {
		t.Fatalf("first bytes: %v", err)
	}
	close(die)
	rest, err := io.ReadAll(r)
	if err == nil || len(rest)+1000 >= len(body) {
		t.Fatalf("read %d more bytes, err %v: want a broken body", len(rest), err)
	}
	if _, err := s.Wait(context.Background()); err == nil {
		t.Fatal("fill succeeded")
	}
	if n := len(second.asked()); n != 0 {
		t.Fatalf("the second origin was asked %d times after bytes reached a reader", n)
	}
	_ = r.Close()
	_ = s.Close()
	e.assertClean()
	if en := e.entries(); len(en) != 1 || en[0].Origin != 1 || en[0].Result != OutcomeFailed {
		t.Fatalf("journal %+v", en)
	}
}

// Coalesced requests of a key whose primary fails share one fill: one
// request to each origin, every reader gets the second origin's body.
func TestFailoverCoalesced(t *testing.T) {
	leakCheck(t)
	body := payload(2<<20, 5)
	gate := make(chan struct{})
	primary := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-gate // until every reader joined
		w.WriteHeader(http.StatusBadGateway)
	})
	second := newRecOrigin(t, serveBody(body))
	obs := &observer{}
	e := newEnv(t, targets[1].open(t), func(o *Options) { o.Observer = obs })
	req := failoverReq("k", nil, rules.Origin{URL: primary.URL + "/"}, rules.Origin{URL: second.URL + "/"})

	const readers = 20
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.m.Get(context.Background(), req)
			if err != nil {
				t.Error(err)
				bad.Add(1)
				return
			}
			defer s.Close()
			got, err := readAll(s.NewReader(0, -1))
			if err != nil || sha(got) != sha(body) {
				t.Errorf("reader: %d bytes, %v", len(got), err)
				bad.Add(1)
			}
		}()
	}
	waitFor(t, func() bool { return obs.coalesced.Load() == readers-1 })
	close(gate)
	wg.Wait()
	if bad.Load() > 0 {
		t.FailNow()
	}
	waitFor(t, func() bool { return e.m.InFlight() == 0 })
	if p, s := len(primary.asked()), len(second.asked()); p != 1 || s != 1 || obs.started.Load() != 1 {
		t.Fatalf("origin requests %d and %d, fills %d: want one each", p, s, obs.started.Load())
	}
	if got := e.stored("k"); sha(got) != sha(body) {
		t.Fatal("stored body differs")
	}
}

// A HEAD on a missing key fails over like a fill.
func TestFailoverHead(t *testing.T) {
	leakCheck(t)
	primary := newRecOrigin(t, status(http.StatusInternalServerError))
	second := newRecOrigin(t, serveBody([]byte("12345")))
	e := newEnv(t, targets[0].open(t), nil)
	req := failoverReq("k", nil, rules.Origin{URL: primary.URL + "/"}, rules.Origin{URL: second.URL + "/"})
	meta, err := e.m.Head(context.Background(), req)
	if err != nil || meta.Size != 5 {
		t.Fatalf("head: %+v, %v", meta, err)
	}
	if got := second.asked(); len(got) != 1 || got[0].method != http.MethodHead {
		t.Fatalf("second origin asked %+v", got)
	}
	e.assertClean()
}

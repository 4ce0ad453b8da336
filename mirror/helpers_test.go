package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/azuritetest"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"go.uber.org/goleak"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
)

func TestMain(m *testing.M) {
	code := miniotest.Run(m)
	azuritetest.Stop()
	os.Exit(code)
}

// leakCheck verifies, after every other cleanup of t, that the test left no
// goroutine behind. Call it first.
func leakCheck(t *testing.T, opts ...goleak.Option) {
	opts = append(opts, goleak.IgnoreCurrent())
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// target kinds every unit test runs on.
type targetKind struct {
	name string
	open func(t *testing.T) *store.Bucket
}

var targets = []targetKind{
	{"mem", func(t *testing.T) *store.Bucket { return store.Wrap(memblob.OpenBucket(nil)) }},
	{"file", func(t *testing.T) *store.Bucket {
		b, err := fileblob.OpenBucket(t.TempDir(), &fileblob.Options{Metadata: fileblob.MetadataInSidecar})
		if err != nil {
			t.Fatal(err)
		}
		return store.Wrap(b)
	}},
}

// env is one Mirror under test with its target and spool dir.
type env struct {
	t      *testing.T
	m      *Mirror
	target *store.Bucket
	spool  string
	jpath  string
	j      *Journal
}

// newEnv builds a Mirror over target; mod may change the options.
func newEnv(t *testing.T, target *store.Bucket, mod func(*Options)) *env {
	t.Helper()
	spool := t.TempDir()
	jpath := filepath.Join(t.TempDir(), "fills.jsonl")
	j, err := OpenJournal(jpath)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Target: target, SpoolDir: spool, Journal: j, IdleTimeout: 30 * time.Second}
	if mod != nil {
		mod(&o)
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, m: m, target: target, spool: spool, jpath: jpath, j: j}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close mirror: %v", err)
		}
		_ = j.Close()
		_ = target.Close()
	})
	return e
}

func httpRule(origin string) *rules.Rule {
	return &rules.Rule{Origin: origin, FollowRedirects: true, MirrorHead: true}
}

func (e *env) req(origin, key string) Request {
	return Request{Rules: ruleSet(httpRule(origin)), Key: key, Header: http.Header{}}
}

// assertClean checks the invariant after a failed fill: nothing in the
// target, no spool file, no fill in flight.
func (e *env) assertClean() {
	e.t.Helper()
	waitFor(e.t, func() bool { return e.m.InFlight() == 0 })
	it := e.target.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Errorf("target holds %q after a failed fill", obj.Key)
	}
	e.assertNoSpool()
}

func (e *env) assertNoSpool() {
	e.t.Helper()
	ents, err := os.ReadDir(e.spool)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range ents {
		e.t.Errorf("spool file left behind: %s", d.Name())
	}
}

func (e *env) entries() []Entry {
	e.t.Helper()
	var out []Entry
	if err := readJournal(e.jpath, func(en Entry) { out = append(out, en) }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) stored(key string) []byte {
	e.t.Helper()
	b, err := e.target.ReadAll(context.Background(), key)
	if err != nil {
		e.t.Fatalf("read stored %q: %v", key, err)
	}
	return b
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// origin is an httptest server counting requests.
type origin struct {
	*httptest.Server
	hits atomic.Int64
}

func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	o := &origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

// readAll reads r to the end and closes it.
func readAll(r io.ReadCloser) ([]byte, error) {
	defer r.Close()
	var buf bytes.Buffer
	_, err := io.Copy(&buf, r)
	return buf.Bytes(), err
}

func failedReason(err error) string {
	var fe *FailedError
	if errors.As(err, &fe) {
		return string(fe.Reason)
	}
	return ""
}

// passThroughOriginRequest builds origin + "/" + key like rules.OriginRequest
// but passes every client header through unchanged (rules never let
// Authorization through), so the mirror's own credential stripping on
// cross-host redirects can be tested.
func passThroughOriginRequest(r *rules.Rule, _ int, key string, h http.Header, rawQuery string) (*rules.Request, error) {
	if strings.HasPrefix(r.Origin, "http://") || strings.HasPrefix(r.Origin, "https://") {
		u, err := url.Parse(strings.TrimSuffix(r.Origin, "/") + "/" + key)
		if err != nil {
			return nil, err
		}
		if r.PassQueryString {
			u.RawQuery = rawQuery
		}
		return &rules.Request{URL: u, Header: h.Clone()}, nil
	}
	return &rules.Request{BucketURL: r.Origin, Key: key}, nil
}

// ruleSet is a set of the one rule r.
func ruleSet(r *rules.Rule) *rules.Set { return &rules.Set{Rules: []rules.Rule{*r}} }

// fill fetches req and waits for the commit, as a reader that reads nothing.
func (e *env) fill(ctx context.Context, req Request) (Result, error) {
	s, err := e.m.Get(ctx, req)
	if err != nil {
		return Result{}, err
	}
	_ = s.Close()
	return s.Wait(ctx)
}

// observer counts what a Mirror tells its Observer.
type observer struct {
	started, coalesced, inFlight, originBytes atomic.Int64
	proxied, rangedServed, rangedFallback     atomic.Int64
	swept, sweepFailures                      atomic.Int64

	mu        sync.Mutex
	results   []string // outcome/reason of each finished fill
	answered  []int    // OriginAnswered numbers
	failovers []string // Failover number/reason
}

func (o *observer) FillStarted() { o.started.Add(1) }
func (o *observer) FillDone(out Outcome, r Reason, _ int64, _ time.Duration) {
	o.mu.Lock()
	o.results = append(o.results, string(out)+"/"+string(r))
	o.mu.Unlock()
}
func (o *observer) Coalesced()          { o.coalesced.Add(1) }
func (o *observer) OriginBytes(n int64) { o.originBytes.Add(n) }
func (o *observer) InFlight(d int)      { o.inFlight.Add(int64(d)) }
func (o *observer) OriginAnswered(n int) {
	o.mu.Lock()
	o.answered = append(o.answered, n)
	o.mu.Unlock()
}
func (o *observer) Failover(n int, r Reason) {
	o.mu.Lock()
	o.failovers = append(o.failovers, fmt.Sprintf("%d/%s", n, r))
	o.mu.Unlock()
}
func (o *observer) Proxied() { o.proxied.Add(1) }
func (o *observer) UploadsSwept(n int, err error) {
	o.swept.Add(int64(n))
	if err != nil {
		o.sweepFailures.Add(1)
	}
}
func (o *observer) Ranged(served bool) {
	if served {
		o.rangedServed.Add(1)
	} else {
		o.rangedFallback.Add(1)
	}
}

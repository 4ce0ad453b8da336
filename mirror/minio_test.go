package mirror

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"go.uber.org/goleak"
)

// minioTarget opens a fresh MinIO bucket as the target.
func minioTarget(t *testing.T) (*store.Bucket, *miniotest.Server, string) {
	s := miniotest.Get(t)
	name := s.NewBucket(t)
	b, err := store.Open(context.Background(), s.URL(name, ""))
	if err != nil {
		t.Fatal(err)
	}
	return b, s, name
}

// The S3 clients keep idle keep-alive connections to MinIO that the store
// package owns (net/http's, and fasthttp's with the reaper that closes them
// when idle); only those goroutines may outlive a MinIO test.
var minioLeakOpts = []goleak.Option{
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
}

// Happy path on MinIO: readers share one origin request for a multipart-sized
// object, which is stored once with its metadata.
func TestMinIOFanout(t *testing.T) {
	leakCheck(t, minioLeakOpts...)
	target, _, _ := minioTarget(t)
	body := payload(12<<20, 8)
	gate := make(chan struct{})
	o := gatedOrigin(t, body, 1<<20, gate)
	e := newEnv(t, target, nil)
	var streams []*Stream
	for range 5 {
		s, err := e.m.Get(context.Background(), e.req(o.URL, "dir/big file+1.bin"))
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	// A reader gets bytes while the origin is holding back the rest.
	first := streams[0].NewReader(0, -1)
	if _, err := io.ReadFull(first, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	close(gate)
	var wg sync.WaitGroup
	errs := make([]error, len(streams))
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := readAll(s.NewReader(0, -1))
			if err == nil && !bytes.Equal(got, body) {
				err = io.ErrUnexpectedEOF
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
	}
	res, err := streams[0].Wait(context.Background())
	if err != nil || !res.Stored {
		t.Fatalf("wait: %+v %v", res, err)
	}
	for _, s := range streams {
		_ = s.Close()
	}
	if o.hits.Load() != 1 {
		t.Fatalf("origin requests = %d", o.hits.Load())
	}
	if sha(e.stored("dir/big file+1.bin")) != sha(body) {
		t.Fatal("stored bytes differ")
	}
	a, err := target.Attributes(context.Background(), "dir/big file+1.bin")
	if err != nil || a.Metadata[store.MetaOriginETag] != `"v1"` || a.ContentType != "application/octet-stream" {
		t.Fatalf("attributes %+v %v", a, err)
	}
	// A second fill of the stored key loses the create-only race.
	res, err = e.fill(context.Background(), e.req(o.URL, "dir/big file+1.bin"))
	if err != nil || res.Stored {
		t.Fatalf("refill: %+v %v", res, err)
	}
}

// A fault on MinIO: the origin dies mid-body after several MiB; nothing is
// visible in the bucket and no multipart upload is left pending.
func TestMinIOFaultLeavesNothing(t *testing.T) {
	leakCheck(t, minioLeakOpts...)
	target, srv, bucket := minioTarget(t)
	body := payload(12<<20, 9)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+1000))
		_, _ = w.Write(body) // then the handler returns: the body is short
	})
	e := newEnv(t, target, nil)
	s, err := e.m.Get(context.Background(), e.req(o.URL, "broken.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(s.NewReader(0, -1)); err == nil {
		t.Fatal("reader saw a clean EOF")
	}
	_, err = s.Wait(context.Background())
	_ = s.Close()
	if failedReason(err) != "length" {
		t.Fatalf("fill error %v", err)
	}
	e.assertClean()
	deadline := time.Now().Add(60 * time.Second)
	for srv.PendingUploads(t, bucket) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("multipart upload left pending")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Small objects of known size go into MinIO with one direct PUT once the
// body is verified: readers still share one origin request and see the body
// as it arrives, the object is stored with the same headers and metadata as
// the streaming path stores, a short body stores nothing, and a refill
// loses the create-only race.
func TestMinIOSmallFillDirectPut(t *testing.T) {
	leakCheck(t, minioLeakOpts...)
	target, _, _ := minioTarget(t)
	if target.Direct() == nil {
		t.Fatal("MinIO target has no DirectPutter")
	}
	lastMod := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	small, big := payload(100<<10, 11), payload(store.DirectPutMax+1, 12)
	gate := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		body := small
		if r.URL.Path == "/big.css" {
			body = big
		}
		if r.URL.Path == "/short.css" {
			w.Header().Set("Content-Length", strconv.Itoa(len(small)+10))
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("ETag", `"v-1:2=3@4"`)
		w.Header().Set("Last-Modified", lastMod.Format(http.TimeFormat))
		_, _ = w.Write(body[:1000])
		w.(http.Flusher).Flush()
		if r.URL.Path == "/gated.css" {
			<-gate
		}
		_, _ = w.Write(body[1000:])
	})
	e := newEnv(t, target, nil)
	ctx := context.Background()

	// Three readers of one gated small fill: one origin request, first bytes
	// before the origin finished, every body whole.
	var streams []*Stream
	for range 3 {
		s, err := e.m.Get(ctx, e.req(o.URL, "gated.css"))
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	r0 := streams[0].NewReader(0, -1)
	if _, err := io.ReadFull(r0, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	_ = r0.Close()
	close(gate)
	for i, s := range streams {
		got, err := readAll(s.NewReader(0, -1))
		if err != nil || !bytes.Equal(got, small) {
			t.Fatalf("reader %d: %d bytes, %v", i, len(got), err)
		}
	}
	res, err := streams[0].Wait(ctx)
	for _, s := range streams {
		_ = s.Close()
	}
	if err != nil || !res.Stored || res.Bytes != int64(len(small)) {
		t.Fatalf("gated fill: %+v %v", res, err)
	}
	if o.hits.Load() != 1 {
		t.Fatalf("origin requests = %d", o.hits.Load())
	}

	// The big one takes the streaming path; both must be stored alike.
	if res, err := e.fill(ctx, e.req(o.URL, "big.css")); err != nil || !res.Stored {
		t.Fatalf("big fill: %+v %v", res, err)
	}
	for key, body := range map[string][]byte{"gated.css": small, "big.css": big} {
		if sha(e.stored(key)) != sha(body) {
			t.Errorf("%s: stored bytes differ", key)
		}
		a, err := target.Attributes(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if a.ContentType != "text/css; charset=utf-8" || a.CacheControl != "public, max-age=600" ||
			a.Metadata[store.MetaOriginETag] != `"v-1:2=3@4"` || a.Metadata[store.MetaOriginLastModified] != lastMod.Format(http.TimeFormat) {
			t.Errorf("%s: attributes %+v metadata %v", key, a, a.Metadata)
		}
	}

	// A refill of a stored small key loses the create-only race.
	if res, err := e.fill(ctx, e.req(o.URL, "gated.css")); err != nil || res.Stored {
		t.Fatalf("refill: %+v %v", res, err)
	}

	// A short body stores nothing.
	if _, err := e.fill(ctx, e.req(o.URL, "short.css")); failedReason(err) != "length" {
		t.Fatalf("short fill: %v", err)
	}
	if ok, _ := target.Exists(ctx, "short.css"); ok {
		t.Fatal("short body stored")
	}
	e.assertNoSpool()
}

// Issue 17 on MinIO: a failover fill is stored from the second origin, a
// Range far ahead of a 64 MiB fill is answered from a ranged origin request
// while the fill (a multipart upload) goes on and stores the object once,
// and a store: false rule leaves the bucket empty.
func TestMinIOFailoverRangesProxy(t *testing.T) {
	leakCheck(t, minioLeakOpts...)
	t.Run("failover", func(t *testing.T) {
		target, _, _ := minioTarget(t)
		body := payload(3<<20, 17)
		primary := newRecOrigin(t, status(http.StatusBadGateway))
		second := newRecOrigin(t, serveBody(body))
		e := newEnv(t, target, nil)
		req := failoverReq("f/k.bin", nil, rules.Origin{URL: primary.URL + "/"}, rules.Origin{URL: second.URL + "/"})
		if res, err := e.fill(context.Background(), req); err != nil || !res.Stored {
			t.Fatalf("fill: %+v %v", res, err)
		}
		if got := e.stored("f/k.bin"); !bytes.Equal(got, body) || len(primary.asked()) != 1 || len(second.asked()) != 1 {
			t.Fatalf("stored %d bytes; origins asked %d and %d", len(got), len(primary.asked()), len(second.asked()))
		}
	})
	t.Run("range ahead", func(t *testing.T) {
		target, _, _ := minioTarget(t)
		rangeAhead(t, target, 64<<20, 4<<20, 48<<20)
	})
	t.Run("store false", func(t *testing.T) {
		target, _, _ := minioTarget(t)
		body := payload(2<<20, 18)
		o := newRecOrigin(t, serveBody(body))
		e := newEnv(t, target, nil)
		rule := httpRule(o.URL + "/")
		rule.NoStore = true
		s, err := e.m.Get(context.Background(), Request{Rules: ruleSet(rule), Key: "api/x", Header: http.Header{}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(s.NewReader(0, -1))
		_ = s.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("proxied: %d bytes, %v", len(got), err)
		}
		e.assertClean()
	})
}

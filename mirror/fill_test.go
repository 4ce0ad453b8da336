package mirror

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// gatedOrigin serves body with a Content-Length, sends the first `first`
// bytes, then waits for gate before sending the rest.
func gatedOrigin(t *testing.T, body []byte, first int, gate <-chan struct{}) *origin {
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write(body[:first])
		w.(http.Flusher).Flush()
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(body[first:])
	})
}

// 50 concurrent readers of one cold 20 MiB key: one origin request, every
// body equal to the origin's, first bytes before the origin finished.
func TestFanout50Readers(t *testing.T) {
	for _, tk := range targets {
		t.Run(tk.name, func(t *testing.T) {
			leakCheck(t)
			body := payload(20<<20, 1)
			gate := make(chan struct{})
			o := gatedOrigin(t, body, 1<<20, gate)
			obs := &observer{}
			e := newEnv(t, tk.open(t), func(o *Options) { o.Observer = obs })

			const readers = 50
			var joined, done sync.WaitGroup
			firstByte := make(chan struct{})
			var once sync.Once
			sums := make([]string, readers)
			errs := make([]error, readers)
			joined.Add(readers)
			done.Add(readers)
			for i := 0; i < readers; i++ {
				go func() {
					defer done.Done()
					s, err := e.m.Get(context.Background(), e.req(o.URL, "big/object.bin"))
					joined.Done()
					if err != nil {
						errs[i] = err
						return
					}
					defer s.Close()
					r := s.NewReader(0, -1)
					h := sha256.New()
					p := make([]byte, 32<<10)
					for {
						n, err := r.Read(p)
						if n > 0 {
							once.Do(func() { close(firstByte) })
							h.Write(p[:n])
						}
						if err == io.EOF {
							break
						}
						if err != nil {
							errs[i] = err
							break
						}
					}
					_ = r.Close()
					sums[i] = hex.EncodeToString(h.Sum(nil))
				}()
			}
			select {
			case <-firstByte: // the origin is still holding back 19 MiB
			case <-time.After(60 * time.Second):
				t.Fatal("no reader got a byte within 60s while the origin was mid-body")
			}
			t0 := time.Now()
			joined.Wait()
			close(gate)
			done.Wait()
			t.Logf("readers done after %v", time.Since(t0))

			want := sha(body)
			for i := range readers {
				if errs[i] != nil {
					t.Fatalf("reader %d: %v", i, errs[i])
				}
				if sums[i] != want {
					t.Fatalf("reader %d: sha256 %s, want %s", i, sums[i], want)
				}
			}
			if n := o.hits.Load(); n != 1 {
				t.Fatalf("origin requests = %d, want 1", n)
			}
			if n := obs.coalesced.Load(); n != readers-1 {
				t.Fatalf("coalesced = %d, want %d", n, readers-1)
			}
			waitFor(t, func() bool { return e.m.InFlight() == 0 })
			if got := sha(e.stored("big/object.bin")); got != want {
				t.Fatalf("stored sha256 %s, want %s", got, want)
			}
			en := e.entries()
			if len(en) != 1 || en[0].Result != "stored" || en[0].Bytes != int64(len(body)) || en[0].Status != 200 {
				t.Fatalf("journal = %+v", en)
			}
			e.assertNoSpool()
		})
	}
}

// The first reader leaves at 10 %: the others complete and the object is
// stored once.
func TestFirstReaderLeavesEarly(t *testing.T) {
	for _, tk := range targets {
		t.Run(tk.name, func(t *testing.T) {
			leakCheck(t)
			body := payload(4<<20, 2)
			gate := make(chan struct{})
			o := gatedOrigin(t, body, len(body)/5, gate)
			e := newEnv(t, tk.open(t), nil)
			req := e.req(o.URL, "k")

			ctx, cancel := context.WithCancel(context.Background())
			first, err := e.m.Get(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			var others []*Stream
			for range 4 {
				s, err := e.m.Get(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				if !s.Coalesced() {
					t.Fatal("second Get did not join the fill")
				}
				others = append(others, s)
			}
			// The first reader reads 10 % and disconnects (its context too).
			r := first.NewReader(0, -1)
			if _, err := io.ReadFull(r, make([]byte, len(body)/10)); err != nil {
				t.Fatal(err)
			}
			_ = r.Close()
			_ = first.Close()
			cancel()
			close(gate)
			for i, s := range others {
				got, err := readAll(s.NewReader(0, -1))
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("reader %d: %d bytes, err %v", i+1, len(got), err)
				}
				res, err := s.Wait(context.Background())
				if err != nil || !res.Stored || res.Bytes != int64(len(body)) {
					t.Fatalf("wait: %+v %v", res, err)
				}
				_ = s.Close()
			}
			if !bytes.Equal(e.stored("k"), body) || o.hits.Load() != 1 {
				t.Fatalf("stored wrong bytes or %d origin requests", o.hits.Load())
			}
			e.assertNoSpool()
		})
	}
}

// Every reader leaves: the fill still completes and stores.
func TestAllReadersLeave(t *testing.T) {
	for _, tk := range targets {
		t.Run(tk.name, func(t *testing.T) {
			leakCheck(t)
			body := payload(3<<20, 3)
			gate := make(chan struct{})
			o := gatedOrigin(t, body, 1<<20, gate)
			e := newEnv(t, tk.open(t), nil)
			var streams []*Stream
			for range 3 {
				ctx, cancel := context.WithCancel(context.Background())
				s, err := e.m.Get(ctx, e.req(o.URL, "gone"))
				if err != nil {
					t.Fatal(err)
				}
				r := s.NewReader(0, -1)
				if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
					t.Fatal(err)
				}
				_ = r.Close()
				_ = s.Close()
				cancel()
				streams = append(streams, s)
			}
			close(gate)
			res, err := streams[0].Wait(context.Background())
			if err != nil || !res.Stored {
				t.Fatalf("fill without readers: %+v %v", res, err)
			}
			if !bytes.Equal(e.stored("gone"), body) {
				t.Fatal("stored bytes differ")
			}
			e.assertNoSpool()
		})
	}
}

// A reader may start late (after the body is complete) and read a range;
// ranges follow the spool while the fill runs.
func TestRangeReaders(t *testing.T) {
	leakCheck(t)
	body := payload(1<<20, 4)
	gate := make(chan struct{})
	o := gatedOrigin(t, body, 600<<10, gate)
	e := newEnv(t, targets[0].open(t), nil)
	s, err := e.m.Get(context.Background(), e.req(o.URL, "r"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Meta().Size != int64(len(body)) || s.Meta().ETag != `"v1"` {
		t.Fatalf("meta = %+v", s.Meta())
	}
	// A range already in the spool completes before the fill ends (no
	// Content-MD5: a later failure cannot make these bytes wrong)...
	got, err := readAll(s.NewReader(100, 1000))
	if err != nil || !bytes.Equal(got, body[100:1100]) {
		t.Fatalf("early range: %d bytes, %v", len(got), err)
	}
	// ...but a range reaching the end of the object holds its last byte
	// until the body is verified.
	r := s.NewReader(500<<10, -1)
	if _, err := io.ReadFull(r, make([]byte, 100<<10-1)); err != nil {
		t.Fatal(err)
	}
	lastByte := make(chan error, 1)
	go func() {
		got, err := readAll(r)
		if err == nil && !bytes.Equal(got, body[600<<10-1:]) {
			err = errors.New("range bytes differ")
		}
		lastByte <- err
	}()
	select {
	case err := <-lastByte:
		t.Fatalf("a read reached the origin's end before the body was verified: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	tail := s.NewReader(900<<10, -1)
	close(gate)
	if err := <-lastByte; err != nil {
		t.Fatal(err)
	}
	got, err = readAll(tail)
	if err != nil || !bytes.Equal(got, body[900<<10:]) {
		t.Fatalf("tail range: %d bytes, %v", len(got), err)
	}
	if _, err := s.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Late reader after commit, and a range past the end.
	got, err = readAll(s.NewReader(int64(len(body))-10, 100))
	if err != nil || !bytes.Equal(got, body[len(body)-10:]) {
		t.Fatalf("late range: %d bytes, %v", len(got), err)
	}
	got, err = readAll(s.NewReader(int64(len(body))+5, -1))
	if err != nil || len(got) != 0 {
		t.Fatalf("range past the end: %d bytes, %v", len(got), err)
	}
}

// A slow but steady origin (1 byte every 50 ms) outlives a 1 s idle timeout.
func TestSlowSteadyOrigin(t *testing.T) {
	leakCheck(t)
	body := []byte("slow-but-steady-origin-bytes-0123456789ab") // 41 bytes, about 2 s
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		for i := range body {
			_, _ = w.Write(body[i : i+1])
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	})
	e := newEnv(t, targets[1].open(t), func(o *Options) { o.IdleTimeout = time.Second })
	res, err := e.fill(context.Background(), e.req(o.URL, "slow"))
	if err != nil || !res.Stored || res.Bytes != int64(len(body)) {
		t.Fatalf("fill: %+v %v", res, err)
	}
	if !bytes.Equal(e.stored("slow"), body) {
		t.Fatal("stored bytes differ")
	}
}

// gzip-encoded origin bytes are stored verbatim with Content-Encoding kept,
// and metadata (type, ETag, Last-Modified, Cache-Control) travels along.
func TestGzipStoredVerbatimWithMetadata(t *testing.T) {
	for _, tk := range targets {
		t.Run(tk.name, func(t *testing.T) {
			leakCheck(t)
			gz := gzipBytes(t, bytes.Repeat([]byte("hello ferry "), 1000))
			lm := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
			var sawAE atomic.Value
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				sawAE.Store(r.Header.Get("Accept-Encoding"))
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("Content-Disposition", `attachment; filename="a.txt"`)
				w.Header().Set("Content-Language", "en")
				w.Header().Set("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")
				w.Header().Set("ETag", `"abc"`)
				w.Header().Set("Last-Modified", lm.Format(http.TimeFormat))
				_, _ = w.Write(gz)
			})
			e := newEnv(t, tk.open(t), nil)
			if _, err := e.fill(context.Background(), e.req(o.URL, "a.txt")); err != nil {
				t.Fatal(err)
			}
			if v := sawAE.Load().(string); v != "" {
				t.Errorf("origin saw Accept-Encoding %q; the transport must not ask for compression", v)
			}
			if !bytes.Equal(e.stored("a.txt"), gz) {
				t.Fatal("stored bytes are not the origin's gzip bytes")
			}
			a, err := e.target.Attributes(context.Background(), "a.txt")
			if err != nil {
				t.Fatal(err)
			}
			if a.ContentEncoding != "gzip" || a.ContentType != "text/plain; charset=utf-8" || a.CacheControl != "max-age=60" ||
				a.ContentDisposition != `attachment; filename="a.txt"` || a.ContentLanguage != "en" {
				t.Errorf("attributes = %+v", a)
			}
			if a.Metadata[store.MetaOriginETag] != `"abc"` || a.Metadata[store.MetaOriginLastModified] != lm.Format(http.TimeFormat) ||
				a.Metadata[store.MetaExpires] != "Thu, 01 Jan 2099 00:00:00 GMT" {
				t.Errorf("metadata = %v", a.Metadata)
			}
		})
	}
}

// A chunked origin (no Content-Length) is streamed and stored.
func TestChunkedOrigin(t *testing.T) {
	leakCheck(t)
	body := payload(300<<10, 5)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(body); i += 10 << 10 {
			_, _ = w.Write(body[i:min(i+10<<10, len(body))])
			w.(http.Flusher).Flush()
		}
	})
	e := newEnv(t, targets[0].open(t), nil)
	s, err := e.m.Get(context.Background(), e.req(o.URL, "chunked"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Meta().Size != -1 {
		t.Fatalf("Size = %d, want -1 for a chunked origin", s.Meta().Size)
	}
	got, err := readAll(s.NewReader(0, -1))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if res, err := s.Wait(context.Background()); err != nil || !res.Stored {
		t.Fatalf("%+v %v", res, err)
	}
}

// Losing the create-only race is success without overwriting.
func TestExistingKeyWins(t *testing.T) {
	for _, tk := range targets {
		t.Run(tk.name, func(t *testing.T) {
			leakCheck(t)
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("origin")) })
			e := newEnv(t, tk.open(t), nil)
			if err := e.target.WriteAll(context.Background(), "k", []byte("application wrote this"), nil); err != nil {
				t.Fatal(err)
			}
			res, err := e.fill(context.Background(), e.req(o.URL, "k"))
			if err != nil || res.Stored || res.Bytes != 6 {
				t.Fatalf("fill = %+v, %v; want Stored=false and no error", res, err)
			}
			if got := string(e.stored("k")); got != "application wrote this" {
				t.Fatalf("target overwritten: %q", got)
			}
			if en := e.entries(); len(en) != 1 || en[0].Result != "exists" {
				t.Fatalf("journal = %+v", en)
			}
		})
	}
}

func TestNotFoundAndStatus(t *testing.T) {
	leakCheck(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/boom":
			w.WriteHeader(http.StatusBadGateway)
		case "/partial":
			w.WriteHeader(http.StatusPartialContent)
		}
	})
	e := newEnv(t, targets[0].open(t), nil)
	_, err := e.m.Get(context.Background(), e.req(o.URL, "missing"))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("404: %v", err)
	}
	_, err = e.fill(context.Background(), e.req(o.URL, "missing"))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("404 via Fill: %v", err)
	}
	for _, k := range []string{"boom", "partial"} {
		_, err = e.m.Get(context.Background(), e.req(o.URL, k))
		var fe *FailedError
		if !errors.As(err, &fe) || fe.Reason != "status" || fe.Status == 0 {
			t.Fatalf("%s: %v", k, err)
		}
	}
	e.assertClean()
	en := e.entries()
	if len(en) != 4 || en[0].Result != "not_found" || en[0].Status != 404 || en[2].Result != "failed" || en[2].Status != 502 {
		t.Fatalf("journal = %+v", en)
	}
}

func TestHead(t *testing.T) {
	leakCheck(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			t.Errorf("method %s", r.Method)
		}
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", "1234")
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("ETag", `"e"`)
	})
	e := newEnv(t, targets[0].open(t), nil)
	meta, err := e.m.Head(context.Background(), e.req(o.URL, "x.png"))
	if err != nil || meta.Size != 1234 || meta.ContentType != "image/png" || meta.ETag != `"e"` {
		t.Fatalf("head = %+v, %v", meta, err)
	}
	if _, err := e.m.Head(context.Background(), e.req(o.URL, "missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("head 404: %v", err)
	}
	e.assertClean()
	if en := e.entries(); len(en) != 0 {
		t.Fatalf("HEAD journaled: %+v", en)
	}
}

// Origin requests carry the Via token and the rule's Host.
func TestViaAndHost(t *testing.T) {
	leakCheck(t)
	var via, host atomic.Value
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		via.Store(r.Header.Get("Via"))
		host.Store(r.Host)
		_, _ = w.Write([]byte("x"))
	})
	e := newEnv(t, targets[0].open(t), func(o *Options) { o.Via = "ferry-test" })
	req := e.req(o.URL, "v")
	req.Rules.Rules[0].Headers.Set = []rules.HeaderValue{{Name: "Host", Value: "www.example.com"}}
	if _, err := e.fill(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if via.Load() != "1.1 ferry-test" || host.Load() != "www.example.com" {
		t.Fatalf("Via %q Host %q", via.Load(), host.Load())
	}
}

// A rule that sets user-agent in lower case sends exactly that one
// User-Agent; without one the origin sees ferry's own.
func TestUserAgentOnce(t *testing.T) {
	leakCheck(t)
	var got atomic.Value
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(strings.Join(r.Header.Values("User-Agent"), " | "))
		_, _ = w.Write([]byte("x"))
	})
	e := newEnv(t, targets[0].open(t), nil)
	req := e.req(o.URL, "ua1")
	req.Rules.Rules[0].Headers.Set = []rules.HeaderValue{{Name: "user-agent", Value: "site-crawler/2"}}
	if _, err := e.fill(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "site-crawler/2" {
		t.Fatalf("User-Agent at the origin = %q, want one site-crawler/2", got.Load())
	}
	if _, err := e.fill(context.Background(), e.req(o.URL, "ua2")); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "ferry-mirror" {
		t.Fatalf("default User-Agent = %q", got.Load())
	}
}

// Shutdown with an expired grace period cancels a stalled fill: readers get
// an error, nothing is stored, no spool file stays.
func TestShutdownCancelsFills(t *testing.T) {
	leakCheck(t)
	gate := make(chan struct{})
	defer close(gate)
	o := gatedOrigin(t, payload(1<<20, 6), 1000, gate)
	e := newEnv(t, targets[1].open(t), nil)
	s, err := e.m.Get(context.Background(), e.req(o.URL, "stuck"))
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(0, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.m.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := readAll(r); err == nil {
		t.Fatal("reader of a cancelled fill saw a clean EOF")
	}
	_ = s.Close()
	if _, err := e.m.Get(context.Background(), e.req(o.URL, "again")); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Get after shutdown: %v", err)
	}
	e.assertClean()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ctx of Get bounds only that caller's wait: the fill goes on and stores.
func TestGetContextBoundsOnlyTheWait(t *testing.T) {
	leakCheck(t)
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		sum := md5.Sum([]byte("late body"))
		w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		_, _ = w.Write([]byte("late body"))
	})
	e := newEnv(t, targets[1].open(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.m.Get(ctx, e.req(o.URL, "late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get: %v", err)
	}
	close(release)
	waitFor(t, func() bool { return e.m.InFlight() == 0 })
	if got := string(e.stored("late")); got != "late body" {
		t.Fatalf("stored %q", got)
	}
	e.assertNoSpool()
}

// With a Content-MD5, even a range in the middle waits for the verified body,
// and a wrong MD5 fails it.
func TestRangeWaitsForMD5(t *testing.T) {
	leakCheck(t)
	body := payload(256<<10, 12)
	for _, good := range []bool{true, false} {
		gate := make(chan struct{})
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			sum := md5.Sum(body)
			if !good {
				sum[0]++
			}
			w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body[:100<<10])
			w.(http.Flusher).Flush()
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
			_, _ = w.Write(body[100<<10:])
		})
		e := newEnv(t, targets[0].open(t), nil)
		s, err := e.m.Get(context.Background(), e.req(o.URL, "md5"))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			got, err := readAll(s.NewReader(10, 20))
			if err == nil && !bytes.Equal(got, body[10:30]) {
				err = errors.New("range bytes differ")
			}
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("range finished before the MD5 was checked: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		close(gate)
		err = <-done
		_ = s.Close()
		if good != (err == nil) {
			t.Fatalf("good MD5 %v: range read error %v", good, err)
		}
	}
}

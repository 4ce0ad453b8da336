package mirror

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob/memblob"
)

// sparseFile creates a sparse file of size bytes (os.Truncate) with marker
// written at off, and returns its path.
func sparseFile(t *testing.T, size, off int64, marker []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(marker, off); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("the end"), size-7); err != nil {
		t.Fatal(err)
	}
	return name
}

// gatedFile is a file whose reads stop at gateAt until gate is closed.
type gatedFile struct {
	f      *os.File // not embedded: its WriteTo would bypass the gate
	ctx    context.Context
	pos    int64
	gateAt int64
	gate   <-chan struct{}
}

func (g *gatedFile) Read(p []byte) (int, error) {
	if g.pos >= g.gateAt {
		select {
		case <-g.gate:
		case <-g.ctx.Done():
			return 0, g.ctx.Err()
		}
	} else if rest := g.gateAt - g.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := g.f.Read(p)
	g.pos += int64(n)
	return n, err
}

func (g *gatedFile) Seek(off int64, whence int) (int64, error) {
	n, err := g.f.Seek(off, whence)
	g.pos = n
	return n, err
}

// flushWriter flushes after every write, so that a client gets every byte
// written before a gate.
type flushWriter struct{ http.ResponseWriter }

func (w flushWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.ResponseWriter.(http.Flusher).Flush()
	return n, err
}

// rangeMode says how a fileOrigin answers Range requests.
type rangeMode int

const (
	rangesServed  rangeMode = iota // http.ServeContent: 206
	rangesIgnored                  // 200 with the whole body, but Accept-Ranges: bytes
	rangesChanged                  // 206 with another ETag (the object changed)
	rangesNone                     // no Accept-Ranges at all (and full answers only)
)

// fileOrigin serves the file at name with http.ServeContent: a GET without
// Range reads through a gate at gateAt (the fill's body stops there until
// gate is closed); Range GETs are answered as mode says.
func fileOrigin(t *testing.T, name string, gateAt int64, gate <-chan struct{}, mode rangeMode) *recOrigin {
	mod := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(name)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"v1"`)
		ranged := r.Header.Get("Range") != ""
		switch {
		case ranged && mode == rangesChanged:
			w.Header().Set("ETag", `"v2"`)
			r.Header.Del("If-Range")
		case ranged && mode == rangesIgnored, mode == rangesNone:
			r.Header.Del("Range")
		}
		if mode == rangesNone {
			w.Header()["Accept-Ranges"] = nil
			st, _ := f.Stat()
			w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
			_, _ = io.Copy(flushWriter{w}, &gatedFile{f: f, ctx: r.Context(), gateAt: gateAt, gate: gate})
			return
		}
		if ranged {
			http.ServeContent(w, r, "", mod, f)
			return
		}
		http.ServeContent(flushWriter{w}, r, "", mod, &gatedFile{f: f, ctx: r.Context(), gateAt: gateAt, gate: gate})
	})
}

// fillWritten is how many bytes the fill of key holds now (-1: no fill).
func fillWritten(m *Mirror, key string) int64 {
	m.mu.Lock()
	f := m.fills[key]
	m.mu.Unlock()
	if f == nil {
		return -1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written
}

// rangeAhead runs one Range read at off of a size-byte cold object whose
// fill is held at gateAt: the range is answered while the fill still holds
// at most gateAt bytes, from one ranged origin request; then the fill goes
// on and stores the object once. What shows that the first byte did not
// wait for the fill is a condition, not a time (the times are only logged):
// the origin sends no byte of the full body past gateAt until the range was
// read, so a range that waited for the fill never gets its first byte (the
// fill then fails on its idle timeout, and so does the read).
func rangeAhead(t *testing.T, target *store.Bucket, size, gateAt, off int64) {
	marker := payload(1<<20, 42)
	name := sparseFile(t, size, off, marker)
	gate := make(chan struct{})
	o := fileOrigin(t, name, gateAt, gate, rangesServed)
	direct := directFirstByte(t, fileOrigin(t, name, size, gate, rangesServed).URL+"/video/big.mp4", off)
	obs := &observer{}
	e := newEnv(t, target, func(op *Options) { op.Observer = obs })
	s, err := e.m.Get(context.Background(), e.req(o.URL, "video/big.mp4"))
	if err != nil {
		close(gate)
		t.Fatal(err)
	}
	defer s.Close()
	if s.Meta().Size != size {
		t.Fatalf("size %d", s.Meta().Size)
	}
	rd := s.NewReader(off, int64(len(marker)))
	got := make([]byte, len(marker))
	t0 := time.Now()
	if _, err := io.ReadFull(rd, got[:1]); err != nil {
		t.Fatal(err)
	}
	first, held := time.Since(t0), fillWritten(e.m, "video/big.mp4")
	if held < 0 || held > gateAt || held >= off {
		t.Fatalf("first byte at offset %d arrived when the fill held %d bytes", off, held)
	}
	if _, err := io.ReadFull(rd, got[1:]); err != nil || !bytes.Equal(got, marker) {
		t.Fatalf("range: %v (bytes equal %v)", err, bytes.Equal(got, marker))
	}
	_ = rd.Close()
	t.Logf("first byte of the range at %d after %v (a direct ranged origin GET: %v), while the fill held %d bytes",
		off, first, direct, held)

	close(gate)
	res, err := s.Wait(context.Background())
	if err != nil || !res.Stored || res.Bytes != size {
		t.Fatalf("fill: %+v %v", res, err)
	}
	var full, ranged int
	for _, a := range o.asked() {
		switch a.rng {
		case "":
			full++
		case "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+int64(len(marker))-1, 10):
			if a.ifRange != `"v1"` {
				t.Errorf("ranged request with If-Range %q", a.ifRange)
			}
			ranged++
		default:
			t.Errorf("unexpected origin request %+v", a)
		}
	}
	if full != 1 || ranged != 1 || obs.rangedServed.Load() != 1 || obs.started.Load() != 1 {
		t.Fatalf("origin GETs: %d full, %d ranged; ranged served %d; fills %d", full, ranged, obs.rangedServed.Load(), obs.started.Load())
	}
	attrs, err := e.target.Attributes(context.Background(), "video/big.mp4")
	if err != nil || attrs.Size != size {
		t.Fatalf("stored: %v %v", attrs, err)
	}
	for _, c := range []struct {
		at   int64
		want []byte
	}{{off, marker}, {size - 7, []byte("the end")}} {
		r, err := e.target.NewRangeReader(context.Background(), "video/big.mp4", c.at, int64(len(c.want)), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := readAll(r)
		if err != nil || !bytes.Equal(b, c.want) {
			t.Fatalf("stored bytes at %d differ (%v)", c.at, err)
		}
	}
}

// directFirstByte is how long a ranged GET at off straight to url takes to
// its first byte (for the log: the figure a ranged answer through the
// mirror compares with).
func directFirstByte(t *testing.T, url string, off int64) time.Duration {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("direct ranged GET: %d %v", resp.StatusCode, err)
	}
	return time.Since(t0)
}

// A Range far beyond a fill's bytes is answered from a ranged origin
// request while the one fill goes on and stores the object.
func TestRangeAheadOfFill(t *testing.T) {
	for _, tk := range targets {
		t.Run(tk.name, func(t *testing.T) {
			leakCheck(t)
			rangeAhead(t, tk.open(t), 64<<20, 4<<20, 48<<20)
		})
	}
}

// The case: a seek to 3 GiB into a cold 4 GiB video (a sparse file)
// gets its first byte while the fill holds at most 64 MiB, and the object is
// stored once, into a file target.
func TestRangeAhead4GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 8 GiB (spool and target)")
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(os.TempDir(), &st); err == nil && int64(st.Bavail)*st.Bsize < 10<<30 {
		t.Skipf("writes 8 GiB (spool and target), and %s has %d MiB free", os.TempDir(), int64(st.Bavail)*st.Bsize>>20)
	}
	leakCheck(t)
	rangeAhead(t, targets[1].open(t), 4<<30, 64<<20, 3<<30)
}

// After a failover, a Range far ahead of the fill asks the origin that
// answered the fill (its own path prefix and Host), never the one that
// failed; there is still one fill and one full GET of each origin.
func TestRangeAheadAfterFailover(t *testing.T) {
	leakCheck(t)
	const size, gateAt, off = 16 << 20, 1 << 20, 12 << 20
	marker := payload(64<<10, 13)
	gate := make(chan struct{})
	primary := newRecOrigin(t, status(http.StatusServiceUnavailable))
	second := fileOrigin(t, sparseFile(t, size, off, marker), gateAt, gate, rangesServed)
	defer func() {
		if gate != nil {
			close(gate)
		}
	}()
	obs := &observer{}
	e := newEnv(t, targets[1].open(t), func(op *Options) { op.Observer = obs })
	req := failoverReq("v/a.mp4", nil, rules.Origin{URL: primary.URL + "/a/", Host: "a.example"},
		rules.Origin{URL: second.URL + "/b/", Host: "b.example"})
	s, err := e.m.Get(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(s.NewReader(off, int64(len(marker)))) // the origin holds the fill at gateAt meanwhile
	if err != nil || !bytes.Equal(got, marker) || obs.rangedServed.Load() != 1 {
		t.Fatalf("range: %v (bytes equal %v), ranged served %d", err, bytes.Equal(got, marker), obs.rangedServed.Load())
	}
	close(gate)
	gate = nil
	if res, err := s.Wait(context.Background()); err != nil || !res.Stored || res.Bytes != size {
		t.Fatalf("fill: %+v %v", res, err)
	}
	if got := primary.asked(); len(got) != 1 || got[0].rng != "" {
		t.Errorf("the failed origin was asked %+v", got)
	}
	rng := fmt.Sprintf("bytes=%d-%d", off, off+int64(len(marker))-1)
	want := []asked{
		{http.MethodGet, "/b/v/a.mp4", "b.example", "", ""},
		{http.MethodGet, "/b/v/a.mp4", "b.example", rng, `"v1"`},
	}
	if got := second.asked(); !slices.Equal(got, want) {
		t.Errorf("the second origin was asked %+v, want %+v", got, want)
	}
	if obs.started.Load() != 1 {
		t.Errorf("fills %d", obs.started.Load())
	}
	if en := e.entries(); len(en) != 1 || en[0].Origin != 2 || en[0].Result != OutcomeStored {
		t.Errorf("journal %+v", en)
	}
}

// When the origin's answer to the range cannot be used (200 instead of
// 206, or another object), the reader follows the fill instead and still
// gets the right bytes; an origin without Accept-Ranges is never asked for
// a range, nor is one for a range the fill is about to reach.
func TestRangeAheadFallback(t *testing.T) {
	const size, gateAt, off = 8 << 20, 1 << 20, 6 << 20
	for _, c := range []struct {
		name     string
		mode     rangeMode
		at       int64
		asked    int // ranged origin requests
		fallback int64
	}{
		{"ignored", rangesIgnored, off, 1, 1},
		{"changed", rangesChanged, off, 1, 1},
		{"no Accept-Ranges", rangesNone, off, 0, 0},
		{"near the fill", rangesServed, gateAt + RangeAhead/2, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			leakCheck(t)
			marker := payload(64<<10, 9)
			gate := make(chan struct{})
			o := fileOrigin(t, sparseFile(t, size, c.at, marker), gateAt, gate, c.mode)
			obs := &observer{}
			e := newEnv(t, targets[0].open(t), func(op *Options) { op.Observer = obs })
			s, err := e.m.Get(context.Background(), e.req(o.URL, "k"))
			if err != nil {
				close(gate)
				t.Fatal(err)
			}
			defer s.Close()
			waitFor(t, func() bool { return fillWritten(e.m, "k") == gateAt })
			rd := s.NewReader(c.at, int64(len(marker)))
			if a, ok := rd.(*aheadReader); ok {
				a.once.Do(a.pick) // what the first Read decides, while the fill is held
			}
			type result struct {
				b   []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				b, err := readAll(rd)
				done <- result{b, err}
			}()
			close(gate)
			r := <-done
			if r.err != nil || !bytes.Equal(r.b, marker) {
				t.Fatalf("range: %v", r.err)
			}
			if _, err := s.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			ranged := 0
			for _, a := range o.asked() {
				if a.rng != "" {
					ranged++
				}
			}
			if ranged != c.asked || obs.rangedServed.Load() != 0 || obs.rangedFallback.Load() != c.fallback {
				t.Fatalf("ranged requests %d (want %d), served %d, fallback %d", ranged, c.asked,
					obs.rangedServed.Load(), obs.rangedFallback.Load())
			}
		})
	}
}

// A store: false request for a range far into the object asks the origin
// for that range instead of reading up to it.
func TestStoreFalseRange(t *testing.T) {
	leakCheck(t)
	const size, off = 32 << 20, 20 << 20
	marker := payload(10000, 4)
	gate := make(chan struct{}) // never opened: the full answer stops at 1 MiB
	defer close(gate)
	o := fileOrigin(t, sparseFile(t, size, off, marker), 1<<20, gate, rangesServed)
	obs := &observer{}
	e := newEnv(t, targets[0].open(t), func(op *Options) { op.Observer = obs })
	rule := httpRule(o.URL + "/")
	rule.NoStore = true
	s, err := e.m.Get(context.Background(), Request{Rules: ruleSet(rule), Key: "k", Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(s.NewReader(off, int64(len(marker))))
	_ = s.Close()
	if err != nil || !bytes.Equal(got, marker) || obs.rangedServed.Load() != 1 {
		t.Fatalf("range: %v, served %d", err, obs.rangedServed.Load())
	}
	var rngs []string
	for _, a := range o.asked() {
		rngs = append(rngs, a.rng)
	}
	if strings.Join(rngs, ",") != ",bytes=20971520-20981519" {
		t.Fatalf("origin asked for %q", rngs)
	}
	e.assertClean()
}

// A rule's bucket origin is read with a range reader for a range far in
// (here under store: false, where the choice is deterministic), and only
// while the object is the one the answer described.
func TestBucketOriginRange(t *testing.T) {
	leakCheck(t)
	ctx := context.Background()
	src := memblob.OpenBucket(nil)
	body := payload(8<<20, 21)
	if err := src.WriteAll(ctx, "v/a.mp4", body, nil); err != nil {
		t.Fatal(err)
	}
	obs := &observer{}
	e := newEnv(t, targets[0].open(t), func(o *Options) {
		o.Observer = obs
		o.OpenBucket = func(context.Context, string) (*store.Bucket, error) { return store.Wrap(src), nil }
	})
	rule := &rules.Rule{Origin: "mem://old", FollowRedirects: true, MirrorHead: true, NoStore: true}
	req := Request{Rules: ruleSet(rule), Key: "v/a.mp4"}
	s, err := e.m.Get(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	const off, n = 6 << 20, 64 << 10
	got, err := readAll(s.NewReader(off, n))
	_ = s.Close()
	if err != nil || !bytes.Equal(got, body[off:off+n]) || obs.rangedServed.Load() != 1 {
		t.Fatalf("range: %v, served %d", err, obs.rangedServed.Load())
	}
	meta := s.Meta()
	if err := src.WriteAll(ctx, "v/a.mp4", body[:len(body)-1], nil); err != nil { // the object changes
		t.Fatal(err)
	}
	if rc, err := e.m.openRange(ctx, route{rule: rule}, req, 0, &meta, off, n); err == nil {
		_ = rc.Close()
		t.Fatal("a range of a changed object was used")
	}
	e.assertClean()
}

package plan

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob/memblob"
)

func memState(t *testing.T) *State {
	t.Helper()
	st := NewState(store.Wrap(memblob.OpenBucket(nil)), "mem")
	t.Cleanup(func() { st.Close() })
	return st
}

// fileOrigin writes keys (each of size len(key)) into a directory origin.
func fileOrigin(t *testing.T, keys []string) *store.Bucket {
	t.Helper()
	dir := t.TempDir()
	for _, k := range keys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(k), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := store.OpenOrigin(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// nestedKeys is a key space with nested prefixes, top-level keys between
// the prefixes, and one big flat prefix.
func nestedKeys() []string {
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("a/%02d/x-%d.jpg", i%7, i))
	}
	// Names a directory walk by name lists out of byte order.
	keys = append(keys, "b.txt", "c-top.html", "zz-last", "a-b/x", "a.b", "img-old/q.png", "img.png")
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("flat/%04d", i))
	}
	for i := range 60 {
		keys = append(keys, fmt.Sprintf("img/%d/%d/p.png", i%3, i))
	}
	sort.Strings(keys)
	return keys
}

func TestFromOriginRangesCoverEveryKeyOnce(t *testing.T) {
	ctx := context.Background()
	keys := nestedKeys()
	b := fileOrigin(t, keys)
	for _, n := range []int{1, 3, 8, 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			st := memState(t)
			p, err := Create(ctx, st, FromOrigin(b, "dir", Options{Partitions: n, Listers: 4}))
			if err != nil {
				t.Fatal(err)
			}
			if p.Totals.Objects != int64(len(keys)) {
				t.Fatalf("totals %+v, want %d objects", p.Totals, len(keys))
			}
			if got := len(p.Partitions); got < min(n, 8) || got > n+1 {
				t.Fatalf("%d partitions, asked for %d", got, n)
			}
			counts := make([]int64, len(p.Partitions))
			var bytes int64
			for _, k := range keys {
				in := 0
				for i, pt := range p.Partitions {
					if pt.Contains(k) {
						in++
						counts[i]++
					}
				}
				if in != 1 {
					t.Fatalf("key %q is in %d partitions", k, in)
				}
				bytes += int64(len(k))
			}
			for i, pt := range p.Partitions {
				if pt.Work.Objects != counts[i] {
					t.Errorf("partition %d (%q, %q]: counted %d, holds %d", i, pt.After, pt.Until, pt.Work.Objects, counts[i])
				}
			}
			if p.Totals.Bytes != bytes {
				t.Errorf("bytes %d, want %d", p.Totals.Bytes, bytes)
			}
			if p.Partitions[0].After != "" || p.Partitions[len(p.Partitions)-1].Until != "" {
				t.Errorf("the ranges do not reach both ends: %+v", p.Partitions)
			}
			// Stored, loaded back equal, and never replaced.
			got, err := st.Load(ctx)
			if err != nil || len(got.Partitions) != len(p.Partitions) {
				t.Fatalf("load: %v %+v", err, got)
			}
			if _, err := Create(ctx, st, FromOrigin(b, "dir", Options{Partitions: 2})); !errors.Is(err, ErrExists) {
				t.Fatalf("second create: %v, want ErrExists", err)
			}
		})
	}
}

// Many chunks are merged without losing a key: 5,000 keys in one prefix with
// tiny chunks.
func TestChunksMerge(t *testing.T) {
	c := newChunks()
	var want scan.Workload
	for i := range 200000 {
		k := fmt.Sprintf("k%07d", i)
		c.add(k, 3)
		want.Add(3)
	}
	all := c.done()
	if len(all) > maxChunks {
		t.Fatalf("%d chunks kept", len(all))
	}
	parts, total := cutRanges(all, &Options{Partitions: 10})
	if total != want || len(parts) != 10 {
		t.Fatalf("total %+v want %+v, %d partitions", total, want, len(parts))
	}
	for _, p := range parts {
		if p.Work.Objects < 19000 || p.Work.Objects > 21000 {
			t.Errorf("unbalanced partition: %+v", p)
		}
	}
}

func TestFromKeys(t *testing.T) {
	ctx := context.Background()
	var lines []string
	for i := range 1003 {
		lines = append(lines, fmt.Sprintf(`{"key":"k/%04d with space","size":%d}`, i, i))
	}
	st := memState(t)
	p, err := Create(ctx, st, FromKeys(strings.NewReader(strings.Join(lines, "\n")+"\n"), "keys.jsonl", Options{PartitionObjects: 100}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Partitions) != 11 || p.Totals.Objects != 1003 || p.Partitions[10].Work.Objects != 3 {
		t.Fatalf("%d partitions, totals %+v", len(p.Partitions), p.Totals)
	}
	var got []string
	for _, pt := range p.Partitions {
		keys := readKeyFile(t, st, pt.KeyFile)
		if int64(len(keys)) != pt.Work.Objects || keys[0] != pt.First || keys[len(keys)-1] != pt.Last {
			t.Fatalf("partition %+v holds %d keys", pt, len(keys))
		}
		got = append(got, keys...)
	}
	for i, k := range got {
		if want := fmt.Sprintf("k/%04d with space", i); k != want {
			t.Fatalf("key %d: %q, want %q", i, k, want)
		}
	}
	// A plan.json that points a partition at another object is refused.
	p.Partitions[1].KeyFile = "plan.json"
	bad := memState(t)
	if err := bad.write(ctx, planKey, p, true); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Load(ctx); err == nil || !strings.Contains(err.Error(), `partition 1: key file "plan.json"`) {
		t.Fatalf("tampered plan: %v", err)
	}
	// A bad line is a LineError naming the file and line.
	_, err = Create(ctx, memState(t), FromKeys(strings.NewReader("a\n{\"size\":1}\n"), "bad.jsonl", Options{}))
	var le *scan.LineError
	if !errors.As(err, &le) || le.File != "bad.jsonl" || le.Line != 2 {
		t.Fatalf("bad list: %v", err)
	}
}

func readKeyFile(t *testing.T, st *State, key string) []string {
	t.Helper()
	data, err := st.b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	kr := scan.NewKeyReader(bytes.NewReader(data), key)
	var keys []string
	for {
		e, err := kr.Next()
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, e.Key)
	}
}

// writeInventory writes an S3 Inventory report as S3 lays it out in its
// destination bucket: data files (one gzip, one plain) and manifest.json.
func writeInventory(t *testing.T, root string, corrupt bool) string {
	t.Helper()
	rows := [][]string{
		{`"src","photos/a%20b.jpg","10"`, `"src","photos/c%2Bd.jpg","20"`, `"src","x/%E2%82%AC.txt","5"`},
		{`"src","y/plain","7"`, `"src","y/deleted","0"`},
	}
	schema := "Bucket, Key, Size"
	var files []string
	for i, r := range rows {
		body := []byte(strings.Join(r, "\n") + "\n")
		name := fmt.Sprintf("inv/src/all/data/f%d.csv", i)
		if i == 0 {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(body)
			zw.Close()
			body, name = buf.Bytes(), name+".gz"
		}
		sum := md5.Sum(body)
		if corrupt && i == 1 {
			body = append(body, []byte(`"src","y/extra","1"`+"\n")...)
		}
		p := filepath.Join(root, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, fmt.Sprintf(`{"key":%q,"size":%d,"MD5checksum":%q}`, name, len(body), hex.EncodeToString(sum[:])))
	}
	manifest := filepath.Join(root, "inv/src/all/2026-06-01T00-00Z/manifest.json")
	os.MkdirAll(filepath.Dir(manifest), 0o755)
	m := fmt.Sprintf(`{"sourceBucket":"src","destinationBucket":"arn:aws:s3:::inv","version":"2016-11-30","fileFormat":"CSV","fileSchema":%q,"files":[%s]}`,
		schema, strings.Join(files, ","))
	if err := os.WriteFile(manifest, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest
}

func TestFromInventory(t *testing.T) {
	ctx := context.Background()
	manifest := writeInventory(t, t.TempDir(), false)
	build, closeInv, err := FromInventory(ctx, manifest, Options{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer closeInv()
	st := memState(t)
	p, err := Create(ctx, st, build)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pt := range p.Partitions {
		got = append(got, readKeyFile(t, st, pt.KeyFile)...)
	}
	want := []string{"photos/a b.jpg", "photos/c+d.jpg", "x/€.txt", "y/plain", "y/deleted"}
	if strings.Join(got, "|") != strings.Join(want, "|") || p.Totals.Bytes != 42 || p.Kind != KindInventory {
		t.Fatalf("keys %q, totals %+v", got, p.Totals)
	}

	// A data file that does not match the manifest's MD5 is refused.
	bad := writeInventory(t, t.TempDir(), true)
	build, closeBad, err := FromInventory(ctx, bad, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeBad()
	if _, err := Create(ctx, memState(t), build); err == nil || !strings.Contains(err.Error(), "f1.csv: MD5") {
		t.Fatalf("corrupt inventory: %v", err)
	}
	// Only CSV.
	dir := t.TempDir()
	orc := filepath.Join(dir, "manifest.json")
	os.WriteFile(orc, []byte(`{"fileFormat":"ORC","fileSchema":"struct<bucket:string,key:string>","files":[]}`), 0o644)
	if _, _, err := FromInventory(ctx, orc, Options{}); err == nil || !strings.Contains(err.Error(), "only CSV") {
		t.Fatalf("ORC: %v", err)
	}
}

// keyPlan stores a key-list plan of n keys in partitions of per.
func keyPlan(t *testing.T, st *State, n, per int) *Plan {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "key-%05d\n", i)
	}
	p, err := Create(context.Background(), st, FromKeys(strings.NewReader(b.String()), "keys.txt", Options{PartitionObjects: int64(per)}))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeRun "copies" every key of the partition, counting runs per key.
type fakeRun struct {
	mu    sync.Mutex
	seen  map[string]int
	runs  atomic.Int64
	delay time.Duration
	fail  func(o scan.Options) error
}

func (f *fakeRun) run(ctx context.Context, o scan.Options) (*scan.Result, error) {
	f.runs.Add(1)
	if f.fail != nil {
		if err := f.fail(o); err != nil {
			return nil, err
		}
	}
	kr := scan.NewKeyReader(o.Keys, o.KeysName)
	res := &scan.Result{Mode: "keys"}
	for {
		e, err := kr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.seen[e.Key]++
		f.mu.Unlock()
		res.Listed++
		res.Copied++
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return res, nil
}

// Three workers at once do every partition; each key is run once, the
// status is complete and counts every key once.
func TestWorkersShareAPlan(t *testing.T) {
	ctx := context.Background()
	st := memState(t)
	keyPlan(t, st, 1000, 50)
	f := &fakeRun{seen: map[string]int{}, delay: 5 * time.Millisecond}
	var wg sync.WaitGroup
	results := make([]*WorkResult, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := Work(ctx, st, WorkOptions{Worker: fmt.Sprintf("w%d", i), Run: f.run, Lease: time.Minute})
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	if len(f.seen) != 1000 {
		t.Fatalf("%d keys run", len(f.seen))
	}
	var counted int
	for _, r := range results {
		if r.Incomplete() {
			t.Errorf("worker %s incomplete: %+v", r.Worker, r)
		}
		for _, p := range r.Parts {
			if p.Counted {
				counted++
			}
		}
	}
	s, err := ReadStatus(ctx, st, scan.Prices{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Complete || s.Counts[PartDone] != 20 || s.Totals.Copied != 1000 || counted != 20 {
		t.Fatalf("status %+v, %d counted", s.Counts, counted)
	}
	// Another partition run finds it done and runs nothing.
	runs := f.runs.Load()
	r, err := RunPartition(ctx, st, 3, WorkOptions{Run: f.run})
	if err != nil || !r.AlreadyDone || f.runs.Load() != runs {
		t.Fatalf("rerun: %v %+v", err, r)
	}
}

// A partition done twice (a retried pod that finished after all) is counted
// once: the second marker loses.
func TestPartitionDoneTwiceCountedOnce(t *testing.T) { doneTwiceCountedOnce(t, memState(t)) }

// doneTwiceCountedOnce runs a 10-key plan of two partitions in st, the
// first done twice, and checks the second marker lost and the status.
func doneTwiceCountedOnce(t *testing.T, st *State) {
	t.Helper()
	ctx := context.Background()
	keyPlan(t, st, 10, 5)
	f := &fakeRun{seen: map[string]int{}}
	w := &worker{st: st, p: mustLoad(t, st), o: WorkOptions{Run: f.run, Worker: "a"}}
	w.o.setDefaults()
	r1, err1 := w.attempt(ctx, 0, 1)
	r2, err2 := w.attempt(ctx, 0, 2)
	if err1 != nil || err2 != nil || !r1.Counted || r2.Counted {
		t.Fatalf("%v %v %+v %+v", err1, err2, r1, r2)
	}
	s, err := ReadStatus(ctx, st, scan.Prices{})
	if err != nil || s.Totals.Copied != 5 || s.Counts[PartDone] != 1 || s.Counts[PartPending] != 1 {
		t.Fatalf("%v %+v %+v", err, s.Totals, s.Counts)
	}
	if _, err := w.attempt(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.attempt(ctx, 1, 1); !errors.Is(err, errLostClaim) {
		t.Fatalf("same attempt twice: %v", err)
	}
}

func mustLoad(t *testing.T, st *State) *Plan {
	p, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A worker that stops beating (killed) leaves its partition abandoned once
// the lease is over; a worker waiting for it takes it over. A failed
// attempt is retried by another worker, up to MaxAttempts.
func TestAbandonedAndFailedPartitionsAreRetried(t *testing.T) {
	ctx := context.Background()
	st := memState(t)
	keyPlan(t, st, 30, 10)
	lease := 300 * time.Millisecond
	dead := &Claim{Partition: 1, Attempt: 1, Worker: "killed", Started: time.Now(), Heartbeat: time.Now(), Lease: lease, State: StateRunning}
	if err := st.create(ctx, claimKey(1, 1), dead); err != nil {
		t.Fatal(err)
	}
	s, _ := ReadStatus(ctx, st, scan.Prices{})
	if s.Parts[1].State != PartRunning {
		t.Fatalf("fresh claim: %+v", s.Parts[1])
	}
	var once atomic.Bool
	f := &fakeRun{seen: map[string]int{}, fail: func(o scan.Options) error {
		if strings.HasSuffix(o.KeysName, keyFileKey(2)) && once.CompareAndSwap(false, true) {
			return &scan.FatalError{Op: "list origin", Err: errors.New("boom")}
		}
		return nil
	}}
	res, err := Work(ctx, st, WorkOptions{Worker: "w1", Run: f.run, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	// w1 failed partition 2 and does not retry it itself; partition 1 was
	// taken over as attempt 2 once abandoned.
	s, err = ReadStatus(ctx, st, scan.Prices{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Parts[1].State != PartDone || s.Parts[1].Marker.Attempt != 2 || s.Parts[2].State != PartFailed || !res.Incomplete() {
		t.Fatalf("after w1: %+v / %+v", s.Parts[1], s.Parts[2])
	}
	if !strings.Contains(s.Parts[2].Error, "boom") {
		t.Fatalf("failed partition's error: %+v", s.Parts[2])
	}
	res, err = Work(ctx, st, WorkOptions{Worker: "w2", Run: f.run, Lease: lease})
	if err != nil || res.Incomplete() || len(res.Parts) != 1 || res.Parts[0].Attempt != 2 {
		t.Fatalf("w2: %v %+v", err, res)
	}
	if s, _ := ReadStatus(ctx, st, scan.Prices{}); !s.Complete || s.Totals.Copied != 30 {
		t.Fatalf("final: %+v", s)
	}
}

func TestFailedKeysFromEveryWorker(t *testing.T) {
	ctx := context.Background()
	st := memState(t)
	keyPlan(t, st, 4, 2)
	dir := t.TempDir()
	for i, keys := range [][]string{{"a", "b"}, {"b", "c"}} {
		m := filepath.Join(dir, fmt.Sprint(i))
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, `{"key":%q,"reason":"origin","error":"x"}`+"\n", k)
		}
		b.WriteString(`{"key":"torn`)
		os.WriteFile(m, []byte(b.String()), 0o644)
		if err := st.upload(ctx, m, failedKey(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := st.FailedKeys(ctx)
	if err != nil || strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("%v %q", err, keys)
	}
}

func TestEstimate(t *testing.T) {
	var w scan.Workload
	for range 1500 {
		w.Add(1 << 20)
	}
	w.Add(40 << 20) // 3 parts: create, 3 parts, complete
	e := scan.NewEstimate(w, w, true, scan.Rates{ObjectsPerSec: 100, BytesPerSec: 10 << 20}, scan.Prices{EgressPerGB: 0.09, Per1000Requests: 0.005})
	if e.ListRequests != 4 || e.GetRequests != 1501 || e.PutRequests != 1505 {
		t.Fatalf("%+v", e)
	}
	if want := float64(1500<<20+40<<20) / (10 << 20); e.Seconds != want {
		t.Fatalf("seconds %v, want %v (bytes bound)", e.Seconds, want)
	}
	if e.Cost <= e.CostEgress || e.CostEgress < 0.13 || e.CostEgress > 0.14 {
		t.Fatalf("cost %+v", e)
	}
	var buf bytes.Buffer
	e.WriteText(&buf)
	if !strings.Contains(buf.String(), "1501 GET, 1505 PUT") || !strings.Contains(buf.String(), "at the given rate") {
		t.Fatalf("%s", buf.String())
	}
}

// A range plan of a directory origin, run by three workers on scan's real
// engine into a directory target: every key is copied once, the status is
// complete, and a rerun copies nothing.
func TestRangePlanOnScan(t *testing.T) {
	ctx := context.Background()
	keys := nestedKeys()
	origin := fileOrigin(t, keys)
	target, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	st := memState(t)
	if _, err := Create(ctx, st, FromOrigin(origin, "dir", Options{Partitions: 8, Listers: 3})); err != nil {
		t.Fatal(err)
	}
	var copied atomic.Int64
	wo := WorkOptions{Scan: scan.Options{Origin: origin, Target: target}, StateDir: t.TempDir(),
		Run: func(ctx context.Context, o scan.Options) (*scan.Result, error) {
			res, err := scan.Run(ctx, o)
			if res != nil {
				copied.Add(res.Copied)
			}
			return res, err
		}}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := wo
			o.Worker = fmt.Sprint("w", i)
			if res, err := Work(ctx, st, o); err != nil || res.Incomplete() {
				t.Errorf("worker %d: %v %+v", i, err, res)
			}
		}()
	}
	wg.Wait()
	if copied.Load() != int64(len(keys)) {
		t.Fatalf("copied %d, want %d", copied.Load(), len(keys))
	}
	for _, k := range keys {
		if b, err := target.ReadAll(ctx, k); err != nil || string(b) != k {
			t.Fatalf("%q: %v %q", k, err, b)
		}
	}
	s, err := ReadStatus(ctx, st, scan.Prices{})
	if err != nil || !s.Complete || s.Totals.Copied != int64(len(keys)) || s.Totals.Listed != int64(len(keys)) {
		t.Fatalf("%v %+v", err, s.Totals)
	}
}

// Files of a directory origin that no key reads (names with escapes
// fileblob did not write) are left out of the plan and reported by the
// partition whose range holds the name, once in all: the partition is
// failed with their paths, the rest are done, and nothing else is lost.
func TestRangePlanReportsUnreadableNames(t *testing.T) {
	ctx := context.Background()
	keys := nestedKeys()
	raw := []string{"a/03/x__0x41__.jpg", "flat/01__0x30__", "img/1/9__0x2f__x"}
	origin := fileOrigin(t, append(slices.Clone(keys), raw...))
	target, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	st := memState(t)
	p, err := Create(ctx, st, FromOrigin(origin, "dir", Options{Partitions: 8, Listers: 3}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Totals.Objects != int64(len(keys)) {
		t.Fatalf("planned %d objects, want %d (the unreadable names left out)", p.Totals.Objects, len(keys))
	}
	var mu sync.Mutex
	var unlisted []string
	wo := WorkOptions{Scan: scan.Options{Origin: origin, Target: target}, StateDir: t.TempDir(), MaxAttempts: 1, Worker: "w",
		Run: func(ctx context.Context, o scan.Options) (*scan.Result, error) {
			res, err := scan.Run(ctx, o)
			if res != nil {
				mu.Lock()
				unlisted = append(unlisted, res.UnlistedPaths...)
				mu.Unlock()
			}
			return res, err
		}}
	res, err := Work(ctx, st, wo)
	if err != nil || !res.Incomplete() {
		t.Fatalf("work: %v, incomplete %v", err, res.Incomplete())
	}
	var names []string
	for _, u := range unlisted {
		names = append(names, filepath.Base(u))
	}
	slices.Sort(names)
	if want := []string{"01__0x30__", "9__0x2f__x", "x__0x41__.jpg"}; !slices.Equal(names, want) {
		t.Errorf("reported %q, want each of %q once", names, want)
	}
	for _, k := range keys {
		if b, err := target.ReadAll(ctx, k); err != nil || string(b) != k {
			t.Errorf("%q: %v %q", k, err, b)
		}
	}
	s, err := ReadStatus(ctx, st, scan.Prices{})
	if err != nil || s.Complete || s.Counts[PartFailed] == 0 {
		t.Fatalf("status: %v, complete %v, %d failed partitions", err, s.Complete, s.Counts[PartFailed])
	}
	for _, ps := range s.Parts {
		if ps.State == PartFailed && !strings.Contains(ps.Error, "origin paths not listable") {
			t.Errorf("partition %d failed with %q", ps.Index, ps.Error)
		}
	}
}

// An attempt that ends with failed keys leaves the partition failed (no
// marker), with its manifest in the state location; the next attempt that
// copies everything finishes it, and the status adds up what both copied.
func TestFailedKeysLeaveThePartitionFailed(t *testing.T) {
	ctx := context.Background()
	st := memState(t)
	keyPlan(t, st, 4, 4)
	manifest := filepath.Join(t.TempDir(), "failed.jsonl")
	os.WriteFile(manifest, []byte(`{"key":"key-00003","reason":"origin","error":"500"}`+"\n"), 0o644)
	n := 0
	run := func(ctx context.Context, o scan.Options) (*scan.Result, error) {
		n++
		if n == 1 {
			return &scan.Result{Stats: scan.Stats{Listed: 4, Copied: 3, CopiedBytes: 30, Failed: 1}, Manifest: manifest}, nil
		}
		return &scan.Result{Stats: scan.Stats{Listed: 4, Copied: 1, CopiedBytes: 10, Skipped: 3}}, nil
	}
	r, err := RunPartition(ctx, st, 0, WorkOptions{Run: run})
	if err != nil || !r.Incomplete() || r.Counted {
		t.Fatalf("first: %v %+v", err, r)
	}
	s, _ := ReadStatus(ctx, st, scan.Prices{})
	if s.Parts[0].State != PartFailed || s.FailedKeys != 1 || s.Complete {
		t.Fatalf("after a failed key: %+v", s.Parts[0])
	}
	if keys, err := st.FailedKeys(ctx); err != nil || len(keys) != 1 || keys[0] != "key-00003" {
		t.Fatalf("failed keys %v %q", err, keys)
	}
	r, err = RunPartition(ctx, st, 0, WorkOptions{Run: run})
	if err != nil || r.Incomplete() || !r.Counted || r.Attempt != 2 {
		t.Fatalf("second: %v %+v", err, r)
	}
	s, _ = ReadStatus(ctx, st, scan.Prices{})
	if !s.Complete || s.Copied != 4 || s.CopiedBytes != 40 || s.FailedKeys != 0 || s.Totals.Listed != 4 {
		t.Fatalf("after the retry: %+v", s)
	}
}

// Chunks of many listings are bounded too: neighbours merge, no object is
// lost, and the partitions still cover every chunk.
func TestAllChunksBounded(t *testing.T) {
	l := &lister{}
	var want scan.Workload
	for p := range 3000 {
		c := newChunks()
		for i := range 400 {
			c.add(fmt.Sprintf("p%04d/k%03d", p, i), 1)
			want.Add(1)
		}
		l.keep(c.done())
	}
	if len(l.all) > maxAllChunks || len(l.all) < maxAllChunks/4 {
		t.Fatalf("%d chunks kept (3000 listings of 25)", len(l.all))
	}
	parts, total := cutRanges(l.all, &Options{Partitions: 7})
	if total != want || len(parts) != 7 {
		t.Fatalf("total %+v want %+v, %d partitions", total, want, len(parts))
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].After != parts[i-1].Until || parts[i].After == "" {
			t.Fatalf("ranges do not chain: %+v %+v", parts[i-1], parts[i])
		}
	}
}

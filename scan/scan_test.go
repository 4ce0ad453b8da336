package scan

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/gcstest"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// oddKeys survive every driver; refusedOnMinIO is refused by MinIO.
var oddKeys = []string{
	"plain.txt", "with space.txt", "dir/sub/deep.bin", "unicodé/日本語.txt", "plus+sign", "per%cent",
	"a/b", "a.b", "a\tb", "a-b", "a b", "z", "emoji/😀", "trailing.",
}

const refusedOnMinIO = "a//b"

func open(t *testing.T, url string) *store.Bucket {
	t.Helper()
	b, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func fileURL(t *testing.T) string { return "file://" + t.TempDir() }

func content(key string) []byte { return []byte("content of " + key + strings.Repeat("x", len(key)*7)) }

func fill(t *testing.T, b *store.Bucket, keys []string) {
	t.Helper()
	for _, k := range keys {
		err := b.WriteAll(context.Background(), k, content(k), &blob.WriterOptions{
			ContentType: "text/x-ferry", CacheControl: "max-age=60", ContentLanguage: "de",
			ContentDisposition: `attachment; filename="x"`, ContentEncoding: "identity",
			Metadata: map[string]string{"origin-etag": "e-" + fmt.Sprint(len(k))},
		})
		if err != nil {
			t.Fatalf("write %q: %v", k, err)
		}
	}
}

func keysOf(t *testing.T, b *store.Bucket) []string {
	t.Helper()
	var keys []string
	it := b.List(nil)
	for {
		o, err := it.Next(context.Background())
		if err != nil {
			break
		}
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys
}

func checkCopied(t *testing.T, dst *store.Bucket, keys []string) { checkCopiedMeta(t, dst, keys, true) }

func checkCopiedMeta(t *testing.T, dst *store.Bucket, keys []string, meta bool) {
	t.Helper()
	ctx := context.Background()
	for _, k := range keys {
		got, err := dst.ReadAll(ctx, k)
		if err != nil {
			t.Errorf("target %q: %v", k, err)
			continue
		}
		if string(got) != string(content(k)) {
			t.Errorf("target %q: content %q", k, got)
		}
		a, err := dst.Attributes(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if meta && (a.ContentType != "text/x-ferry" || a.CacheControl != "max-age=60" || a.ContentLanguage != "de" ||
			a.ContentDisposition != `attachment; filename="x"` || a.ContentEncoding != "identity" ||
			a.Metadata["origin-etag"] != "e-"+fmt.Sprint(len(k))) {
			t.Errorf("target %q: metadata lost: %+v %v", k, a, a.Metadata)
		}
	}
}

func runScan(t *testing.T, o Options) *Result {
	t.Helper()
	if o.RetryBase == 0 {
		o.RetryBase = time.Millisecond
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return res
}

// testListing copies a listable origin into a target, then reruns.
func testListing(t *testing.T, originURL, targetURL string, keys []string, refused []string) {
	src, dst := open(t, originURL), open(t, targetURL)
	all := append(append([]string{}, keys...), refused...)
	fill(t, src, all)
	state := t.TempDir()

	res := runScan(t, Options{Origin: src, Target: dst, StateDir: state, Transfers: 4, CompareSize: true})
	if res.Copied != int64(len(keys)) || res.Failed != int64(len(refused)) || res.Listed != int64(len(all)) {
		t.Fatalf("first run: %+v (failures %v)", res.Stats, res.Failures)
	}
	checkCopied(t, dst, keys)
	if len(refused) > 0 {
		if res.Manifest == "" || res.Failures[0].Reason != "target_refused_key" {
			t.Errorf("refused key: manifest %q failures %+v", res.Manifest, res.Failures)
		}
	}

	// A rerun copies nothing.
	res = runScan(t, Options{Origin: src, Target: dst, StateDir: state, CompareSize: true})
	if res.Copied != 0 || res.Skipped != int64(len(keys)) || res.Failed != int64(len(refused)) || res.SizeMismatch != 0 {
		t.Fatalf("rerun: %+v", res.Stats)
	}
	if got := keysOf(t, dst); len(got) != len(keys) {
		t.Errorf("target has %d keys, want %d: %q", len(got), len(keys), got)
	}

	// A new key, and a dry run that sees it without copying.
	fill(t, src, []string{"new/one"})
	res = runScan(t, Options{Origin: src, Target: dst, DryRun: true})
	if res.Missing != 1 || res.Copied != 0 {
		t.Fatalf("dry run: %+v", res.Stats)
	}
	res = runScan(t, Options{Origin: src, Target: dst, Include: []string{"new/**"}})
	if res.Copied != 1 || res.Listed != 1 {
		t.Fatalf("include: %+v", res.Stats)
	}
}

func TestListFileToFile(t *testing.T) {
	testListing(t, fileURL(t), fileURL(t), append(append([]string{}, oddKeys...), refusedOnMinIO), nil)
}

func TestListFileToMinIO(t *testing.T) {
	s := miniotest.Get(t)
	testListing(t, fileURL(t), s.BucketURL(t), oddKeys, []string{refusedOnMinIO})
}

func TestListMinIOToFile(t *testing.T) {
	s := miniotest.Get(t)
	testListing(t, s.BucketURL(t), fileURL(t), oddKeys, nil)
}

func TestListMinIOToMinIO(t *testing.T) {
	s := miniotest.Get(t)
	testListing(t, s.BucketURL(t), s.BucketURL(t), oddKeys, nil)
}

// A target that already holds some keys, listed in a different order than
// the origin (fileblob origin, MinIO target): the join must not copy what is
// there, and must copy what is not.
func TestOutOfOrderPartialTarget(t *testing.T) {
	s := miniotest.Get(t)
	for _, tc := range []struct{ name, src, dst string }{
		{"file-to-minio", fileURL(t), s.BucketURL(t)},
		{"minio-to-file", s.BucketURL(t), fileURL(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := open(t, tc.src), open(t, tc.dst)
			fill(t, src, oddKeys)
			var half []string
			for i, k := range oddKeys {
				if i%2 == 0 {
					half = append(half, k)
				}
			}
			fill(t, dst, half)
			res := runScan(t, Options{Origin: src, Target: dst})
			if res.Copied != int64(len(oddKeys)-len(half)) || res.Skipped != int64(len(half)) || res.Failed != 0 {
				t.Fatalf("%+v", res.Stats)
			}
			res = runScan(t, Options{Origin: src, Target: dst})
			if res.Copied != 0 || res.Skipped != int64(len(oddKeys)) {
				t.Fatalf("rerun: %+v", res.Stats)
			}
			t.Logf("rerun: %d listing entries out of byte order, %d existence checks", res.OutOfOrder, res.Checks)
		})
	}
}

// A web root whose names put a file or directory with "-" or "." right
// after a directory's name ("img-old/", "img.png" beside "img/") is listed
// in S3's byte order (store.DirLister), so a rerun against a MinIO target
// proves every key present from the listings alone: no key out of order,
// no existence check. A directory walk lists all of img/ first and made the
// rerun check each of img-old/ with a HEAD.
func TestDirectoryOriginInByteOrder(t *testing.T) {
	s := miniotest.Get(t)
	dir := t.TempDir()
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("site/img/%02d.png", i), fmt.Sprintf("site/img-old/%02d.png", i))
	}
	keys = append(keys, "site/img.png", "site/img0", "site/css/a.css", "site/css.d/b.css", "site-2/index.html")
	for _, k := range keys {
		p := filepath.Join(dir, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content(k), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, dst := open(t, dir), open(t, s.BucketURL(t))
	res := runScan(t, Options{Origin: src, Target: dst})
	if res.Copied != int64(len(keys)) || res.Failed != 0 {
		t.Fatalf("first run: %+v", res.Stats)
	}
	res = runScan(t, Options{Origin: src, Target: dst})
	if res.Skipped != int64(len(keys)) || res.Copied != 0 || res.Checks != 0 || res.OutOfOrder != 0 {
		t.Errorf("rerun: %d skipped, %d copied, %d existence checks, %d out of order; want %d skipped, none of the rest",
			res.Skipped, res.Copied, res.Checks, res.OutOfOrder, len(keys))
	}
}

// Where a page of a directory listing ends between the walk's order and
// the keys' ("a/f1001" is the 1,001st key walked, "a-b" and "a.b" sort
// before every "a/..."), gocloud's fileblob listed keys twice and left
// a-b, a.b and a-c/x out: scan copied 1,002 of 1,005 files and finalize,
// listing the same way, called the target complete. Every file is listed
// once and copied.
func TestDirectoryListingPageBoundary(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 1001 {
		files = append(files, fmt.Sprintf("a/f%04d", i+1))
	}
	files = append(files, "a-b", "a.b", "a0", "a-c/x")
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, dst := open(t, dir), open(t, fileURL(t))
	res := runScan(t, Options{Origin: src, Target: dst})
	if res.Listed != int64(len(files)) || res.Copied != int64(len(files)) || res.Failed != 0 {
		t.Fatalf("listed %d, copied %d, failed %d; want %d listed and copied", res.Listed, res.Copied, res.Failed, len(files))
	}
	for _, f := range files {
		if ok, err := dst.Exists(context.Background(), f); err != nil || !ok {
			t.Errorf("%s not in the target (%v)", f, err)
		}
	}
}

// A file (or directory) of a directory origin whose name holds an escape
// fileblob did not write lists, through fileblob, as a key that names
// another file: its copy failed as "gone from the origin" and finalize
// called the key "not in the origin". It is left out of the listing,
// counted once by the run whose range holds its name (Unlisted, named in
// the sample), and leaves the run and finalize incomplete.
func TestDirectoryOriginUnreadableName(t *testing.T) {
	dir := t.TempDir()
	files := []string{"a", "b", "d__0x42__/f", "k1__0x30__", "z"}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := open(t, dir)
	if _, err := src.NewReader(context.Background(), "k10", nil); !store.IsNotFound(err) {
		t.Fatalf("key k10 (what fileblob lists k1__0x30__ as): %v, want not found", err)
	}
	dst := open(t, fileURL(t))
	res := runScan(t, Options{Origin: src, Target: dst})
	if res.Copied != 3 || res.Failed != 0 || res.Vanished != 0 || res.Unlisted != 2 || res.Complete() {
		t.Fatalf("copied %d, failed %d, vanished %d, unlisted %d (complete %v); want 3 copied, 2 unlisted, incomplete",
			res.Copied, res.Failed, res.Vanished, res.Unlisted, res.Complete())
	}
	want := []string{filepath.Join(dir, "d__0x42__"), filepath.Join(dir, "k1__0x30__")}
	if !slices.Equal(res.UnlistedPaths, want) {
		t.Errorf("unlisted sample %q, want %q", res.UnlistedPaths, want)
	}
	if err := res.Err("retry"); err == nil || !strings.Contains(err.Error(), "2 origin paths left out of the listing") {
		t.Errorf("Err: %v", err)
	}
	// Two ranges that cover the key space count each name once.
	for _, kr := range []KeyRange{{Until: "e"}, {After: "e"}} {
		r := runScan(t, Options{Origin: src, Target: dst, Range: kr})
		if r.Unlisted != 1 {
			t.Errorf("range %v: %d unlisted, want 1 (%q)", kr, r.Unlisted, r.UnlistedPaths)
		}
	}
	rep, err := Finalize(context.Background(), Options{Origin: src, Target: dst})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Complete || rep.Unlisted != 2 || rep.NotInOrigin != 0 || rep.StillMissing != 0 {
		t.Errorf("finalize: complete %v, unlisted %d, not in origin %d, missing %d; want incomplete with 2 unlisted",
			rep.Complete, rep.Unlisted, rep.NotInOrigin, rep.StillMissing)
	}
}

func TestKeysFromBucketOrigin(t *testing.T) {
	src, dst := open(t, fileURL(t)), open(t, fileURL(t))
	fill(t, src, []string{"a", "b c", "d"})
	list := "key,size\na,11\nb c,\nd,999\ngone,5\n"
	res := runScan(t, Options{Origin: src, Target: dst, Keys: strings.NewReader(list), KeysName: "k.csv", CompareSize: true})
	if res.Copied != 3 || res.Vanished != 1 || res.SizeMismatch != 2 || res.Failed != 0 {
		t.Fatalf("%+v", res.Stats)
	}
	if res.VanishedKeys[0] != "gone" {
		t.Errorf("vanished sample %v", res.VanishedKeys)
	}
}

// fakeFiller copies from a bucket, failing the keys in fail with a 500.
type fakeFiller struct {
	src, dst *store.Bucket
	mu       sync.Mutex
	fail     map[string]bool
	calls    map[string]int
	hook     func(key string)
}

func (f *fakeFiller) Copy(ctx context.Context, req mirror.Request) (mirror.Result, error) {
	f.mu.Lock()
	f.calls[req.Key]++
	failing := f.fail[req.Key]
	f.mu.Unlock()
	if f.hook != nil {
		f.hook(req.Key)
	}
	if failing {
		return mirror.Result{}, &mirror.FailedError{Status: 500, Reason: "status", Err: errors.New("origin 500")}
	}
	b, err := f.src.ReadAll(ctx, req.Key)
	if err != nil {
		if store.IsNotFound(err) {
			return mirror.Result{}, mirror.ErrNotFound
		}
		return mirror.Result{}, err
	}
	err = f.dst.WriteAll(ctx, req.Key, b, &blob.WriterOptions{IfNotExist: true})
	if store.IsExists(err) {
		return mirror.Result{Bytes: int64(len(b))}, nil
	}
	return mirror.Result{Bytes: int64(len(b)), Stored: err == nil}, err
}

func catchAll() *rules.Set {
	return &rules.Set{Rules: []rules.Rule{{Origin: "http://origin.example/"}}}
}

func TestKeysThroughRulesFailuresAndManifest(t *testing.T) {
	src, dst := open(t, fileURL(t)), open(t, fileURL(t))
	keys := []string{"k1", "k2", "k3", "k4", "sp ace"}
	fill(t, src, keys)
	ff := &fakeFiller{src: src, dst: dst, fail: map[string]bool{"k2": true, "k4": true}, calls: map[string]int{}}
	state := t.TempDir()
	o := Options{Target: dst, Keys: strings.NewReader(strings.Join(keys, "\n") + "\n"), Copier: ff, Rules: catchAll(), StateDir: state, Retries: 2}
	res := runScan(t, o)
	if res.Copied != 3 || res.Failed != 2 || res.Complete() {
		t.Fatalf("%+v", res.Stats)
	}
	if ff.calls["k2"] != 3 {
		t.Errorf("k2 fetched %d times, want 3 (1 + 2 retries)", ff.calls["k2"])
	}
	if res.Manifest == "" || filepath.Dir(res.Manifest) != filepath.Join(state, "scan") {
		t.Fatalf("manifest %q", res.Manifest)
	}
	// The origin recovers; the manifest fed back completes the copy.
	ff.fail = nil
	f, err := os.Open(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o.Keys, o.KeysName = f, res.Manifest
	res = runScan(t, o)
	if res.Copied != 2 || res.Failed != 0 || !res.Complete() {
		t.Fatalf("manifest rerun: %+v", res.Stats)
	}
	checkCopiedMeta(t, dst, keys, false)
	mk, err := ManifestKeys(filepath.Join(state, "scan", "failed-*.jsonl"))
	if err != nil || strings.Join(mk, ",") != "k2,k4" {
		t.Errorf("ManifestKeys = %v, %v", mk, err)
	}
}

func TestKeysCheckpointResume(t *testing.T) {
	src, dst := open(t, fileURL(t)), open(t, fileURL(t))
	var keys []string
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%03d", i))
	}
	fill(t, src, keys)
	path := filepath.Join(t.TempDir(), "keys.txt")
	os.WriteFile(path, []byte(strings.Join(keys, "\n")+"\n"), 0o644)
	state := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	ff := &fakeFiller{src: src, dst: dst, calls: map[string]int{}, hook: func(string) {
		if n.Add(1) == 120 {
			cancel()
		}
	}}
	f, _ := os.Open(path)
	o := Options{Target: dst, Keys: f, KeysName: path, Copier: ff, Rules: catchAll(), StateDir: state, RunID: "test-run", Transfers: 2, Checkers: 2}
	_, err := Run(ctx, o)
	f.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	f, _ = os.Open(path)
	defer f.Close()
	o.Keys = f
	ff.hook = nil
	stored := keysOf(t, dst)
	before := map[string]int{}
	for _, k := range stored {
		before[k] = ff.calls[k]
	}
	res := runScan(t, o)
	if res.Resumed < 50 || res.Failed != 0 {
		t.Fatalf("resume: resumed %d, %+v", res.Resumed, res.Stats)
	}
	if res.Checks > int64(len(keys))-res.Resumed {
		t.Errorf("checked %d keys, resumed %d", res.Checks, res.Resumed)
	}
	for k, v := range before {
		if ff.calls[k] != v {
			t.Errorf("key %s, stored before the interruption, fetched again", k)
		}
	}
	if got := keysOf(t, dst); len(got) != len(keys) {
		t.Fatalf("target has %d keys", len(got))
	}
	if _, err := os.Stat(StateDir(state).checkpoint("test-run")); !os.IsNotExist(err) {
		t.Errorf("checkpoint left after a complete run: %v", err)
	}
}

func TestFinalizeChecksum(t *testing.T) {
	src, dst := open(t, fileURL(t)), open(t, fileURL(t))
	keys := []string{"a", "b", "c", "d"}
	fill(t, src, keys)
	runScan(t, Options{Origin: src, Target: dst})
	// Corrupt one object (same size) and drop another.
	ctx := context.Background()
	bad := content("b")
	bad[0] ^= 0xff
	if err := dst.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := dst.WriteAll(ctx, "b", bad, nil); err != nil {
		t.Fatal(err)
	}
	if err := dst.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	rep, err := Finalize(ctx, Options{Origin: src, Target: dst})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete || rep.CopiedNow != 1 || rep.OriginKeys != 4 || rep.Present != 4 {
		t.Fatalf("without checksum: %+v", rep)
	}
	rep, err = Finalize(ctx, Options{Origin: src, Target: dst, Checksum: true, Extra: []string{"a", "not-in-origin"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Complete || rep.ContentMismatches != 1 || rep.ContentSample[0] != "b" || rep.ContentVerified != 4 || rep.NotInOrigin != 1 {
		t.Fatalf("with checksum: %+v", rep)
	}
}

// A key that failed earlier and is also in the main pass is checked once,
// not counted twice (finalize with --keys and a failure manifest).
func TestExtraKeysCountedOnce(t *testing.T) {
	src, dst := open(t, fileURL(t)), open(t, fileURL(t))
	fill(t, src, []string{"a"})
	ctx := context.Background()
	rep, err := Finalize(ctx, Options{Origin: src, Target: dst, Keys: strings.NewReader("a\nimages/logo.png\n"), KeysName: "k",
		Extra: []string{"images/logo.png", "a", "images/logo.png", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OriginKeys != 2 || rep.StillMissing != 0 || rep.CopiedNow != 1 || rep.NotInOrigin != 2 || len(rep.NotInOriginSample) != 2 {
		t.Fatalf("%+v", rep)
	}
}

func TestKeyReader(t *testing.T) {
	in := `{"key":"j1","size":3,"md5":"900150983cd24fb0d6963f7d28e17f72"}
plain key with spaces

{"key":"j2"}
`
	kr := NewKeyReader(strings.NewReader(in), "k.txt")
	var got []string
	for {
		e, err := kr.Next()
		if err != nil {
			break
		}
		got = append(got, fmt.Sprintf("%s|%d|%x|%d", e.Key, e.Size, e.MD5, e.Line))
	}
	want := "j1|3|900150983cd24fb0d6963f7d28e17f72|1 plain key with spaces|-1||2 j2|-1||4"
	if strings.Join(got, " ") != want {
		t.Errorf("got %q", got)
	}
	for _, tc := range []struct{ in, msg string }{
		{"a\n{\"size\":1}\n", "keys file f: line 2: JSON line has no \"key\""},
		{"{\"key\":\"a\",\"size\":-1}\n", "keys file f: line 1: size -1 is not a non-negative integer"},
		{"key,size\na,x\n", "keys file f: line 2: size \"x\" is not a non-negative integer"},
		{"key,md5\na,zz\n", "keys file f: line 2: md5 \"zz\" is neither 32 hex digits nor base64 of 16 bytes"},
		{"key,size\na,1,2\n", "keys file f: line 2: bad CSV record: wrong number of fields"},
		{"{bad\n", "keys file f: line 1: bad JSON: invalid character 'b' looking for beginning of object key string"},
	} {
		kr := NewKeyReader(strings.NewReader(tc.in), "f")
		var err error
		for err == nil {
			_, err = kr.Next()
		}
		if err.Error() != tc.msg {
			t.Errorf("%q: got %q, want %q", tc.in, err, tc.msg)
		}
	}
}

func TestFilter(t *testing.T) {
	f, err := newFilter(&Options{Prefix: "img/", Include: []string{"*.jpg", "img/keep/**"}, Exclude: []string{"*secret*"}})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{
		"img/a.jpg": true, "img/x/b.jpg": true, "img/a.png": false, "img/keep/a/b.png": true,
		"img/secret.jpg": false, "doc/a.jpg": false,
	} {
		if got := f.match(key); got != want {
			t.Errorf("match(%q) = %v", key, got)
		}
	}
	if _, err := newFilter(&Options{Shard: 3, Shards: 3}); err == nil {
		t.Error("shard 3/3 accepted")
	}
	counts := make([]int, 4)
	for i := range 1000 {
		counts[ShardOf(fmt.Sprint(i), 4)]++
	}
	for i, c := range counts {
		if c < 200 {
			t.Errorf("shard %d has %d of 1000 keys", i, c)
		}
	}
}

func TestShardsCoverEverything(t *testing.T) {
	src, dst := open(t, fileURL(t)), open(t, fileURL(t))
	fill(t, src, oddKeys)
	var total int64
	for i := range 3 {
		res := runScan(t, Options{Origin: src, Target: dst, Shard: i, Shards: 3})
		total += res.Copied
	}
	if total != int64(len(oddKeys)) {
		t.Fatalf("shards copied %d of %d", total, len(oddKeys))
	}
}

// Copies from an S3 origin read metadata from the GET response and undo
// gocloud's escaping themselves; keys and values that gocloud escapes must
// arrive as written.
func TestS3OriginMetadataEscaping(t *testing.T) {
	s := miniotest.Get(t)
	t.Run("file target", func(t *testing.T) { testMetadataEscaping(t, s.BucketURL(t), fileURL(t)) })
	// Into MinIO the direct PUT has to escape the metadata again, as the
	// bucket writer would.
	t.Run("minio target", func(t *testing.T) { testMetadataEscaping(t, s.BucketURL(t), s.BucketURL(t)) })
}

func testMetadataEscaping(t *testing.T, srcURL, dstURL string) {
	src, dst := open(t, srcURL), open(t, dstURL)
	md := map[string]string{"a:b=c@d": "Grüße, 世界 100% +x", "plain": "v/w?x#y"}
	ctx := context.Background()
	if err := src.WriteAll(ctx, "k", []byte("data"), &blob.WriterOptions{ContentType: "text/plain", ContentLanguage: "de", Metadata: md}); err != nil {
		t.Fatal(err)
	}
	runScan(t, Options{Origin: src, Target: dst})
	a, err := dst.Attributes(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if a.ContentType != "text/plain" || a.ContentLanguage != "de" {
		t.Errorf("headers: %+v", a)
	}
	for k, v := range md {
		if a.Metadata[k] != v {
			t.Errorf("metadata %q = %q, want %q (all: %v)", k, a.Metadata[k], v, a.Metadata)
		}
	}
}

// Into an S3 target, small objects go through store.DirectPutter: a body
// that fails its MD5 check is never sent, the others arrive intact, with
// sniffed content types as the bucket writer would set them.
func TestDirectPutChecksBeforeSending(t *testing.T) {
	s := miniotest.Get(t)
	src, dst := open(t, fileURL(t)), open(t, s.BucketURL(t))
	if dst.Direct() == nil {
		t.Fatal("MinIO target has no DirectPutter")
	}
	ctx := context.Background()
	bodies := map[string]string{"good.html": "<html><body>hi</body></html>", "bad.txt": "will not match", "plain": "no md5 given"}
	for k, v := range bodies {
		if err := src.WriteAll(ctx, k, []byte(v), &blob.WriterOptions{DisableContentTypeDetection: true, ContentType: ""}); err != nil {
			t.Fatal(err)
		}
	}
	list := fmt.Sprintf("key,md5\ngood.html,%x\nbad.txt,%x\nplain,\n", md5.Sum([]byte(bodies["good.html"])), md5.Sum([]byte("something else")))
	res := runScan(t, Options{Origin: src, Target: dst, Keys: strings.NewReader(list), KeysName: "k.csv", Retries: 1})
	if res.Copied != 2 || res.Failed != 1 || len(res.Failures) != 1 || res.Failures[0].Key != "bad.txt" || res.Failures[0].Reason != "md5" {
		t.Fatalf("%+v failures %+v", res.Stats, res.Failures)
	}
	if ok, _ := dst.Exists(ctx, "bad.txt"); ok {
		t.Error("object that failed its MD5 check is in the target")
	}
	for _, k := range []string{"good.html", "plain"} {
		got, err := dst.ReadAll(ctx, k)
		if err != nil || string(got) != bodies[k] {
			t.Errorf("%s = %q, %v", k, got, err)
		}
	}
	if a, err := dst.Attributes(ctx, "good.html"); err != nil || a.ContentType != "text/html; charset=utf-8" {
		t.Errorf("good.html content type: %+v %v", a, err)
	}
}

// Objects between 1 MiB and the multipart size take the direct PUT from a
// pooled buffer when the listing gave their size, and the SDK otherwise;
// multipart-sized ones are uploaded in parts. All arrive byte for byte.
func TestMidSizeObjectsIntoMinIO(t *testing.T) {
	s := miniotest.Get(t)
	src := open(t, fileURL(t))
	ctx := context.Background()
	bodies := map[string][]byte{}
	for i, size := range []int{3 << 20, 5<<20 + 7, 2<<20 + 1, 16<<20 + 1} { // the last one is over the multipart size
		b := bytes.Repeat([]byte{byte('a' + i)}, size)
		copy(b, fmt.Sprintf("object %d of %d bytes", i, size))
		key := fmt.Sprintf("mid/%d.bin", i)
		bodies[key] = b
		if err := src.WriteAll(ctx, key, b, &blob.WriterOptions{ContentType: "application/x-test", Metadata: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, dst *store.Bucket) {
		for key, want := range bodies {
			got, err := dst.ReadAll(ctx, key)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes, %v; want %d", key, len(got), err, len(want))
			}
			a, err := dst.Attributes(ctx, key)
			if err != nil || a.ContentType != "application/x-test" || a.Metadata["n"] != key[4:5] {
				t.Errorf("%s: attributes %+v %v", key, a, err)
			}
		}
	}
	t.Run("listing", func(t *testing.T) {
		dst := open(t, s.BucketURL(t))
		res := runScan(t, Options{Origin: src, Target: dst})
		if res.Copied != int64(len(bodies)) {
			t.Fatalf("%+v", res.Stats)
		}
		check(t, dst)
	})
	t.Run("key list without sizes", func(t *testing.T) {
		dst := open(t, s.BucketURL(t))
		var list strings.Builder
		for key := range bodies {
			list.WriteString(key + "\n")
		}
		res := runScan(t, Options{Origin: src, Target: dst, Keys: strings.NewReader(list.String()), KeysName: "k"})
		if res.Copied != int64(len(bodies)) {
			t.Fatalf("%+v", res.Stats)
		}
		check(t, dst)
	})
}

func TestListGCSToFile(t *testing.T) {
	s := gcstest.New(t)
	testListing(t, s.URL(s.NewBucket(t, "origin"), ""), fileURL(t), oddKeys, nil)
}

func TestListFileToGCS(t *testing.T) {
	s := gcstest.New(t)
	testListing(t, fileURL(t), s.URL(s.NewBucket(t, "target"), "scoped"), oddKeys, nil)
}

// TestGCSOriginGzipObject: an object a gs:// origin stores gzip-compressed
// is copied as stored (its bytes, size and MD5), not unzipped on the way.
func TestGCSOriginGzipObject(t *testing.T) {
	s := gcstest.New(t)
	src, dst := open(t, s.URL(s.NewBucket(t, "origin"), "")), open(t, fileURL(t))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(bytes.Repeat([]byte("<p>compressed</p>"), 300))
	_ = zw.Close()
	ctx := context.Background()
	if err := src.WriteAll(ctx, "page.html", buf.Bytes(), &blob.WriterOptions{ContentType: "text/html", ContentEncoding: "gzip"}); err != nil {
		t.Fatal(err)
	}
	res := runScan(t, Options{Origin: src, Target: dst, StateDir: t.TempDir()})
	if res.Copied != 1 || res.Failed != 0 {
		t.Fatalf("scan: %+v %+v", res.Stats, res.Failures)
	}
	// A checksum pass compares the copy with the origin's bytes.
	res = runScan(t, Options{Origin: src, Target: dst, CompareSize: true, Checksum: true, DryRun: true})
	if res.Skipped != 1 || res.SizeMismatch != 0 || res.Missing != 0 {
		t.Errorf("checksum pass: %+v", res.Stats)
	}
	got, err := dst.ReadAll(ctx, "page.html")
	if err != nil {
		t.Fatal(err)
	}
	a, err := dst.Attributes(ctx, "page.html")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, buf.Bytes()) || a.ContentEncoding != "gzip" || a.ContentType != "text/html" {
		t.Errorf("target: %d bytes (want the %d stored), %q %q", len(got), buf.Len(), a.ContentEncoding, a.ContentType)
	}
}

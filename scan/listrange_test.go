package scan

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/internal/gcstest"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
	"golang.org/x/sync/errgroup"
)

// rangeKeys are keys whose listing order differs between drivers: MinIO's
// "a/b" before "a-b", escaped names, dots and dashes next to slashes.
var rangeKeys = append(append([]string{}, oddKeys...),
	"a/c/d", "a-", "a0", "ab/c", "ab-c", "ab.c", "b1", "b/", "b/x", "b-x", "b.x", "b0", "__0x41__",
	"x\x01y", "x/y", "x-y", "x.z", "a.c", "x0", "dot../x", "~tilde", "Zed", "zz/top", "z-z", "9/9", "9-9", "99",
	"m\x01x", "m1", "m7", "m__0x41__")

func fillFast(t *testing.T, b *store.Bucket, keys []string) {
	t.Helper()
	g := new(errgroup.Group)
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error { return b.WriteAll(context.Background(), k, []byte(k), nil) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// The names a listing sorts by are the ones the drivers store.
func TestSortNamesMatchDrivers(t *testing.T) {
	keys := append(append([]string{}, rangeKeys...), refusedOnMinIO, "a__0x2f__b", "c\td/e", "../x", "f/")
	dir := t.TempDir()
	fb := open(t, "file://"+dir)
	fillFast(t, fb, keys)
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".attrs") {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	var want []string
	for _, k := range keys {
		want = append(want, fileName(k))
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("file names\n got %q\nwant %q", names, want)
	}

	s := miniotest.Get(t)
	bucket := s.NewBucket(t)
	mb := open(t, s.URL(bucket, ""))
	keys = slices.DeleteFunc(keys, func(k string) bool { return strings.Contains(k, "//") || k == "../x" || k == "f/" })
	fillFast(t, mb, keys)
	out, err := s.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	names = names[:0]
	for _, o := range out.Contents {
		names = append(names, aws.ToString(o.Key))
	}
	want = want[:0]
	for _, k := range keys {
		want = append(want, s3Name(k))
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("s3 names\n got %q\nwant %q", names, want)
	}
}

func TestRangeBounds(t *testing.T) {
	for _, tc := range []struct{ after, start string }{
		{"", ""}, {"abc", "abc"}, {"a/b-c", "a/b"}, {"img/2023/05/x.jpg", "img/2023/05/x"}, {"a b", "a"}, {"-x", ""},
	} {
		if got := startAfter(tc.after); got != tc.start {
			t.Errorf("startAfter(%q) = %q, want %q", tc.after, got, tc.start)
		}
	}
	for _, tc := range []struct{ until, prefix, stop string }{
		{"", "", ""},
		{"abc", "", "abd"},
		{"a/b", "", "b"},              // "/" ends the run: MinIO lists "a-x" after "a/..."
		{"a/b", "a/", "a/c"},          // under the prefix "a/" every key shares it
		{"k/01999", "k/0", "k/0199:"}, // run "1999": bump the last byte
		{"a-b", "", "b"},
		{"-x", "", ""},  // nothing plain after the prefix: list to the end
		{"b", "a/", ""}, // until past the prefix
		{"z~", "", "z\x7f"},
	} {
		if got := stopBound(tc.until, tc.prefix); got != tc.stop {
			t.Errorf("stopBound(%q, %q) = %q, want %q", tc.until, tc.prefix, got, tc.stop)
		}
	}
	for _, tc := range []struct {
		kr     KeyRange
		prefix string
		want   string
		ok     bool
	}{
		{KeyRange{"k/01000", "k/01999"}, "", "k/01", true},
		{KeyRange{"k/01000", "k/01999"}, "k/", "k/01", true},
		{KeyRange{"a", "c"}, "d/", "d/", false},
		{KeyRange{"e", ""}, "d/", "d/", false},
		{KeyRange{"", "c"}, "d/", "d/", false},
		{KeyRange{"a_1", "a_2"}, "", "", true}, // "_" may start an escape: no narrowing
		{KeyRange{"c", "e"}, "d/", "d/", true},
	} {
		got, ok := tc.kr.listPrefix(tc.prefix)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s.listPrefix(%q) = %q, %v; want %q, %v", tc.kr, tc.prefix, got, ok, tc.want, tc.ok)
		}
	}
	if err := (KeyRange{"b", "a"}).Check(); err == nil || !strings.Contains(err.Error(), `("b", "a"]`) {
		t.Errorf("Check of a reversed range: %v", err)
	}
}

// partitionBoundaries cuts keys into ranges at some of the keys and at
// strings that are no key.
func partitionBoundaries(keys []string) []KeyRange {
	cuts := []string{"", "9", "a", "a/b", "a-", "a.b", "ab", "b/", "b0", "k/00999", "k/01500", "k/02000~", "m", "m5", "x", "x/y", "z-", ""}
	slices.Sort(cuts[1 : len(cuts)-1])
	var prs []KeyRange
	for i := 1; i < len(cuts); i++ {
		prs = append(prs, KeyRange{After: cuts[i-1], Until: cuts[i]})
	}
	return prs
}

// Consecutive ranges list every key exactly once, in every driver's order.
func TestRangesPartitionTheListing(t *testing.T) {
	var many []string
	for i := range 2500 {
		many = append(many, fmt.Sprintf("k/%05d", i))
	}
	minio := func(t *testing.T) string { return miniotest.Get(t).BucketURL(t) }
	for _, tc := range []struct {
		name string
		url  func(*testing.T) string
		keys []string
	}{
		{"mem", func(*testing.T) string { return "mem://" }, append(append([]string{}, rangeKeys...), refusedOnMinIO)},
		{"file", fileURL, append(append([]string{}, rangeKeys...), refusedOnMinIO)},
		{"file-many", fileURL, append(append([]string{}, rangeKeys...), many...)},
		{"minio", minio, rangeKeys},
		{"minio-many", minio, append(append([]string{}, rangeKeys...), many...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := open(t, tc.url(t))
			fillFast(t, src, tc.keys)
			seen := map[string]int{}
			for _, kr := range partitionBoundaries(tc.keys) {
				res := runScan(t, Options{Origin: src, Target: open(t, "mem://"), DryRun: true, Range: kr, Samples: 1 << 20})
				for _, k := range res.MissingKeys {
					seen[k]++
				}
				if res.Listed != int64(len(res.MissingKeys)) {
					t.Errorf("%s: listed %d, missing %d", kr, res.Listed, len(res.MissingKeys))
				}
			}
			for _, k := range tc.keys {
				if seen[k] != 1 {
					t.Errorf("key %q listed %d times", k, seen[k])
				}
			}
			if len(seen) != len(tc.keys) {
				t.Errorf("%d keys listed, want %d", len(seen), len(tc.keys))
			}
		})
	}
}

// A range in the middle of an S3 listing starts after its start and stops
// after its end: it costs its own pages, not the whole listing's.
func TestRangeListsOnlyItsPages(t *testing.T) {
	s := miniotest.Get(t)
	var lists atomic.Int64
	up, _ := url.Parse(s.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(up)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("list-type") == "2" {
			lists.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	bucket := s.NewBucket(t)
	var keys []string
	for i := range 5000 {
		keys = append(keys, fmt.Sprintf("k/%05d", i))
	}
	fillFast(t, open(t, s.URL(bucket, "")), keys)
	src := open(t, "s3://"+bucket+"?endpoint="+srv.URL+"&region=us-east-1")
	dst := open(t, "mem://")

	lists.Store(0)
	res := runScan(t, Options{Origin: src, Target: dst, DryRun: true, Range: KeyRange{After: "k/02000", Until: "k/02999"}})
	if res.Listed != 999 || res.Missing != 999 {
		t.Fatalf("range: %+v", res.Stats)
	}
	if n := lists.Load(); n > 2 {
		t.Errorf("a range of 999 keys took %d list requests, want 1 or 2", n)
	}
	lists.Store(0)
	res = runScan(t, Options{Origin: src, Target: dst, DryRun: true})
	if res.Listed != 5000 || lists.Load() < 5 {
		t.Errorf("whole listing: %+v in %d requests", res.Stats, lists.Load())
	}
}

// A key list is filtered by the range too.
func TestKeyListRange(t *testing.T) {
	src, dst := open(t, "mem://"), open(t, "mem://")
	fill(t, src, []string{"a", "b", "c", "d"})
	res := runScan(t, Options{Origin: src, Target: dst, Keys: strings.NewReader("a\nb\nc\nd\n"), Range: KeyRange{After: "a", Until: "c"}})
	if res.Listed != 2 || res.Copied != 2 {
		t.Fatalf("%+v", res.Stats)
	}
	if _, err := dst.Attributes(context.Background(), "a"); err == nil {
		t.Error("a key before the range was copied")
	}
}

// spanKeys is the key space of the partitioned-listing tests: nested keys
// under d0/ ... d6/ (300 directories a level down), 1,500 flat keys beside
// them, and rangeKeys.
func spanKeys(nested int) []string {
	var keys []string
	for i := range nested {
		keys = append(keys, fmt.Sprintf("d%d/%03d/f%d", i%7, i%300, i))
	}
	for i := range 1500 {
		keys = append(keys, fmt.Sprintf("flat%05d", i))
	}
	return append(keys, rangeKeys...)
}

// Listed in spans at once, the diff copies exactly what the target lacks,
// every key once, and lists concurrently.
func TestPartitionedListing(t *testing.T) {
	keys := spanKeys(6000)
	var half []string
	for i, k := range keys {
		if i%3 == 0 {
			half = append(half, k)
		}
	}
	for _, tc := range []struct {
		name string
		url  func(*testing.T) (string, *atomic.Int64)
	}{
		{"mem", func(*testing.T) (string, *atomic.Int64) { return "mem://", nil }},
		{"minio", func(t *testing.T) (string, *atomic.Int64) { return listCountingMinIO(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, peak := tc.url(t)
			src, dst := open(t, u), open(t, "mem://")
			fillFast(t, src, keys)
			fillFast(t, dst, half)
			if peak != nil {
				peak.Store(0)
			}
			res := runScan(t, Options{Origin: src, Target: dst, Listers: 8, Transfers: 16})
			if res.Listed != int64(len(keys)) || res.Copied != int64(len(keys)-len(half)) || res.Skipped != int64(len(half)) || res.Failed != 0 {
				t.Fatalf("%+v", res.Stats)
			}
			if res.Spans < 2 {
				t.Errorf("listed in %d spans", res.Spans)
			}
			if peak != nil && peak.Load() < 2 {
				t.Errorf("at most %d list requests at once", peak.Load())
			}
			t.Logf("%d spans, %d checks, %d out of order", res.Spans, res.Checks, res.OutOfOrder)
			res = runScan(t, Options{Origin: src, Target: dst, Listers: 8})
			if res.Copied != 0 || res.Skipped != int64(len(keys)) || res.Listed != int64(len(keys)) {
				t.Fatalf("rerun: %+v", res.Stats)
			}
			checkKeys := append([]string{}, keys...)
			if got := keysOf(t, dst); !slices.Equal(got, sorted(checkKeys)) {
				t.Errorf("target holds %d keys, want %d", len(got), len(keys))
			}
		})
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

// A bucket whose keys all sit in one top-level directory is listed in
// spans inside it: with both sides on S3 the first span lists the top level
// with a delimiter and hands the directory on as a span of its own, which
// its listing cuts (a cut never goes past a "/", so without levels the
// whole bucket would be one span). Odd keys around the directory's name,
// which MinIO lists out of byte order, are listed once too.
func TestPartitionedListingOneDirectory(t *testing.T) {
	var keys []string
	for i := range 5000 {
		keys = append(keys, fmt.Sprintf("data/d%d/%03d/f%d", i%9, i%250, i))
	}
	keys = append(keys, "data-old", "data.x", "data x/y", "data/", "data/a b/c", "data/a-b", "data/a/b",
		"datb/1", "d/x", "top.txt", "data/__0x41__/x", "data/x\x01y", "data/z~", "datum/q")
	var half []string
	for i, k := range keys {
		if i%4 == 0 {
			half = append(half, k)
		}
	}
	s := miniotest.Get(t)
	var inFlight, peak atomic.Int64
	up, _ := url.Parse(s.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(up)
	// The most list requests at once inside the directory, origin and target.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Get("list-type") == "2" && strings.HasPrefix(q.Get("prefix"), "data/") {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	bucket := func() *store.Bucket {
		return open(t, "s3://"+s.NewBucket(t)+"?endpoint="+srv.URL+"&region=us-east-1")
	}
	src, dst := bucket(), bucket()
	fillFast(t, src, keys)
	fillFast(t, dst, half)
	res := runScan(t, Options{Origin: src, Target: dst, Listers: 8, Transfers: 16})
	if res.Listed != int64(len(keys)) || res.Copied != int64(len(keys)-len(half)) || res.Skipped != int64(len(half)) || res.Failed != 0 {
		t.Fatalf("%+v", res.Stats)
	}
	if peak.Load() < 4 {
		t.Errorf("at most %d list requests at once under data/", peak.Load())
	}
	t.Logf("%d spans, %d checks, %d out of order, %d at once under data/", res.Spans, res.Checks, res.OutOfOrder, peak.Load())
	res = runScan(t, Options{Origin: src, Target: dst, Listers: 8})
	if res.Copied != 0 || res.Skipped != int64(len(keys)) || res.Listed != int64(len(keys)) {
		t.Fatalf("rerun: %+v", res.Stats)
	}
	if got := keysOf(t, dst); !slices.Equal(got, sorted(append([]string{}, keys...))) {
		t.Errorf("target holds %d keys, want %d", len(got), len(keys))
	}
	// Consecutive ranges (a plan's partitions), cut inside directories and
	// between them, list every key once between them.
	cuts := []string{"", "data/d3/100/f1100", "data/d3/2", "data/d5/", "data/d7/2", "datb", ""}
	var listed int64
	for i := range len(cuts) - 1 {
		kr := KeyRange{After: cuts[i], Until: cuts[i+1]}
		res := runScan(t, Options{Origin: src, Target: dst, Listers: 8, Range: kr, DryRun: true})
		var want int64
		for _, k := range keys {
			if kr.Contains(k) {
				want++
			}
		}
		if res.Listed != want || res.Missing != 0 {
			t.Errorf("range %v: listed %d, missing %d; want %d, 0", kr, res.Listed, res.Missing, want)
		}
		listed += res.Listed
	}
	if listed != int64(len(keys)) {
		t.Errorf("the ranges listed %d keys, want %d", listed, len(keys))
	}
}

// A directory whose stored name is not its key (written by another tool:
// "raw__0x41__/" reads as the key "rawA/", which gocloud would store as
// "rawA/") is listed once, as the level's range kept to its names, beside
// the real "rawA/".
func TestLevelsEscapedDirectory(t *testing.T) {
	s := miniotest.Get(t)
	srcName := s.NewBucket(t)
	src, dst := open(t, s.URL(srcName, "")), open(t, s.URL(s.NewBucket(t), ""))
	var keys []string
	for i := range 2500 {
		keys = append(keys, fmt.Sprintf("d%d/%03d/f%d", i%3, i%50, i))
	}
	fillFast(t, src, append(keys, "rawA/g"))
	for _, raw := range []string{"raw__0x41__/f1", "raw__0x41__/f2"} {
		if _, err := s.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srcName), Key: aws.String(raw), Body: strings.NewReader(raw)}); err != nil {
			t.Fatal(err)
		}
	}
	res := runScan(t, Options{Origin: src, Target: dst, Listers: 8, Transfers: 16})
	// The two raw names are listed but cannot be read by their keys
	// (gocloud reads "rawA/f1" as "rawA/f1"): gone by the time of the copy.
	if want := int64(len(keys) + 3); res.Listed != want || res.Copied != want-2 || res.Vanished != 2 || res.Failed != 0 {
		t.Fatalf("%+v; want %d listed, %d copied, 2 vanished", res.Stats, want, want-2)
	}
	for _, k := range []string{"rawA/g", keys[0], keys[len(keys)-1]} {
		if ok, err := dst.Exists(context.Background(), k); err != nil || !ok {
			t.Errorf("target lacks %q (%v)", k, err)
		}
	}
}

// subtree gives a directory of a listing by levels the span its keys need:
// none outside the range, all of it inside, the range where the directory
// straddles an end, and for a directory whose stored name is not its key
// the level's own listing kept to the names under it.
func TestSubtree(t *testing.T) {
	r := &run{originName: s3Name, targetName: s3Name}
	for _, tc := range []struct {
		kr        KeyRange
		dir, name string
		want      span
		ok        bool
	}{
		{KeyRange{}, "t01/", "t01/", span{prefix: "t01/"}, true},
		{KeyRange{After: "t00~", Until: "t01~"}, "t01/", "t01/", span{prefix: "t01/"}, true},
		{KeyRange{After: "t00~", Until: "t01~"}, "t00/", "t00/", span{}, false}, // every name under it <= After
		{KeyRange{After: "t00~", Until: "t01~"}, "t02/", "t02/", span{}, false}, // > Until
		{KeyRange{After: "t01/m5", Until: "t01~"}, "t01/", "t01/", span{prefix: "t01/", kr: KeyRange{After: "t01/m5", Until: "t01~"}}, true},
		{KeyRange{After: "t00~", Until: "t01/m5"}, "t01/", "t01/", span{prefix: "t01/", kr: KeyRange{After: "t00~", Until: "t01/m5"}}, true},
		{KeyRange{Until: "t01/"}, "t01/", "t01/", span{prefix: "t01/", kr: KeyRange{Until: "t01/"}}, true}, // only the marker
		{KeyRange{After: "a"}, "xA/", "x__0x41__/", span{prefix: "pre/", kr: KeyRange{After: "a"}, under: "x__0x41__/"}, true},
	} {
		cur := newRangeCursor(tc.kr, "pre/")
		got, ok := r.subtree(cur, "pre/", tc.dir, tc.name)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("subtree(%v, %q, %q) = %+v, %v; want %+v, %v", tc.kr, tc.dir, tc.name, got, ok, tc.want, tc.ok)
		}
	}
	// A listing by levels starts before the directory that holds After.
	for _, tc := range [][3]string{
		{"d1/s05/obj-00100.txt", "", "d1"}, {"d1/s05/obj-00100.txt", "d1/", "d1/s05"}, {"d1/s05/obj", "d1/s05/", "d1/s05/obj"},
		{"t00~", "t0", "t00~"}, {"d1/", "d1/", ""}, {"a", "b/", ""}, {"", "", ""}, {"a\tb/c", "", "a"},
	} {
		if got := levelStart(tc[0], tc[1]); got != tc[2] {
			t.Errorf("levelStart(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
	// A page's directories: those in range handed on, the listing done at
	// one past the bound; a directory not under the listing's prefix (an
	// empty one would be the whole bucket again) is an error.
	var subs []string
	sub := func(s span) error { subs = append(subs, s.prefix); return nil }
	var maxName string
	page := &store.ListPage{Prefixes: []string{"pre/a/", "pre/b/", "pre/c/"}, PrefixNames: []string{"pre/a/", "pre/b/", "pre/c/"}}
	done, err := r.subtrees(page, newRangeCursor(KeyRange{Until: "pre/b~"}, "pre/"), "pre/", &maxName, sub)
	if err != nil || !done || fmt.Sprint(subs) != "[pre/a/ pre/b/]" || maxName != "pre/b/" {
		t.Errorf("subtrees: done %v, err %v, handed on %q, max %q", done, err, subs, maxName)
	}
	for _, bad := range []string{"", "pre/", "other/"} {
		page := &store.ListPage{Prefixes: []string{bad}, PrefixNames: []string{bad}}
		if _, err := r.subtrees(page, newRangeCursor(KeyRange{}, "pre/"), "pre/", &maxName, sub); err == nil || !strings.Contains(err.Error(), "not under it") {
			t.Errorf("directory %q: %v", bad, err)
		}
	}
}

// listCountingMinIO returns the URL of a fresh MinIO bucket reached through
// a proxy that tracks the most list requests in flight at once.
func listCountingMinIO(t *testing.T) (string, *atomic.Int64) {
	s := miniotest.Get(t)
	var inFlight, peak atomic.Int64
	up, _ := url.Parse(s.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(up)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("list-type") == "2" {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return "s3://" + s.NewBucket(t) + "?endpoint=" + srv.URL + "&region=us-east-1", &peak
}

// Cuts follow the keys just listed, stay between lo and hi, and never go
// past the first "/" after the prefix (a span could not stop there).
func TestSplitPoints(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, prefix, shared string
		n                      int
		want                   []string
	}{
		{"t03/m076/f1", "", "", "t03/m0", 3, []string{"t03~", "t05~", "t07~"}},       // the digits after 3
		{"t03/m076/f1", "t06~", "t0", "t03/m0", 9, []string{"t03~", "t04~", "t05~"}}, // up to hi
		{"k/0999", "", "k/", "k/0", 2, []string{"k/0~", "k/4~"}},
		{"abc", "", "", "", 2, []string{"a~", "m~"}}, // nothing shared: the first position
		// cuts left over go to the positions before: t09, t1 ... t6 are not left in one range
		{"t00/m000/f00000984.bin", "", "", "t00/m000/f0000", 12, []string{"t00~", "t01~", "t02~", "t03~", "t04~", "t05~", "t06~", "t07~", "t08~", "t0~", "t3~", "t6~"}},
		{"t00/m000/f00000984.bin", "", "", "t00/m000/f0000", 31, []string{"t00~", "t01~", "t02~", "t03~", "t04~", "t05~", "t06~", "t07~", "t08~",
			"t0~", "t1~", "t2~", "t3~", "t4~", "t5~", "t6~", "t7~", "t8~", "t~", "u~", "v~", "w~", "x~", "y~"}},
		{"t00/m000/f00000984.bin", "t2~", "t", "t00/m000/f0000", 31, []string{"t00~", "t01~", "t02~", "t03~", "t04~", "t05~", "t06~", "t07~", "t08~", "t0~", "t1~"}}, // up to hi
	} {
		got := splitPoints(tc.lo, tc.hi, tc.prefix, tc.shared, tc.n)
		if !slices.Equal(got, tc.want) {
			t.Errorf("splitPoints(%q, %q, %q, %q, %d) = %q, want %q", tc.lo, tc.hi, tc.prefix, tc.shared, tc.n, got, tc.want)
		}
		for i, p := range got {
			if p <= tc.lo || tc.hi != "" && p >= tc.hi || i > 0 && p <= got[i-1] {
				t.Errorf("splitPoints(%q, %q): cut %q out of place in %q", tc.lo, tc.hi, p, got)
			}
			if stopBound(p, tc.prefix) == "" || strings.Contains(p[len(tc.prefix):], "/") {
				t.Errorf("cut %q under %q has no tight bound", p, tc.prefix)
			}
		}
	}
	if got := splitPoints("a/b", "", "", "a/", 4); len(got) != 0 && strings.HasPrefix(got[0], "a/") {
		t.Errorf("cut past the first slash: %q", got)
	}
}

// TestPartitionedListingGCS: a gs:// origin is listed in spans at once,
// each starting at its range (startOffset, on every page), with the names
// gocloud's gcs driver stores; every key is copied once, and a rerun
// copies nothing. The names the emulator lists are the ones GCSName gives.
func TestPartitionedListingGCS(t *testing.T) {
	s := gcstest.New(t)
	keys := spanKeys(1000)
	keys = append(keys, "nl\nkey", "cr\rkey", "up../x")
	src, dst := open(t, s.URL(s.NewBucket(t, "origin"), "")), open(t, "mem://")
	fillFast(t, src, keys)
	if !canStartAfter(src) {
		t.Fatal("a gs:// bucket cannot start its listing anywhere")
	}
	if n := (&Options{Origin: src, Target: dst}).listers(); n != DefaultListers {
		t.Errorf("default listers for a gs:// origin: %d, want %d", n, DefaultListers)
	}
	names := s.ListObjects(t, "origin")
	var want []string
	for _, k := range keys {
		want = append(want, store.GCSName(k))
	}
	if !slices.Equal(sorted(names), sorted(want)) {
		t.Errorf("gcs names differ from GCSName's")
	}
	s.Take()
	res := runScan(t, Options{Origin: src, Target: dst, Listers: 8, Transfers: 16})
	if res.Listed != int64(len(keys)) || res.Copied != int64(len(keys)) || res.Failed != 0 || res.Spans < 2 {
		t.Fatalf("%+v", res.Stats)
	}
	offsets, pages, later := 0, 0, 0
	for _, r := range s.Take() {
		if r.Method != "GET" || r.Path != "/storage/v1/b/origin/o" {
			continue
		}
		pages++
		q, _ := url.ParseQuery(r.Query)
		if q.Get("startOffset") != "" {
			offsets++
			if q.Get("pageToken") != "" {
				later++
			}
		}
	}
	if offsets == 0 || later == 0 {
		t.Errorf("%d of %d list pages started at an offset (%d of them later pages)", offsets, pages, later)
	}
	t.Logf("%d spans, %d list pages, %d at an offset", res.Spans, pages, offsets)
	res = runScan(t, Options{Origin: src, Target: dst, Listers: 8})
	if res.Copied != 0 || res.Skipped != int64(len(keys)) || res.Listed != int64(len(keys)) {
		t.Fatalf("rerun: %+v", res.Stats)
	}
	if got := keysOf(t, dst); !slices.Equal(got, sorted(append([]string{}, keys...))) {
		t.Errorf("target holds %d keys, want %d", len(got), len(keys))
	}
}

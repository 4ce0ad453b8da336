package serve

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/gcstest"
	"github.com/ferry-migrate/ferry/store"
)

// gcsTarget opens a fresh bucket of the emulator s.
func gcsTarget(t *testing.T, s *gcstest.Server, name string) *store.Bucket {
	t.Helper()
	b, err := store.Open(context.Background(), s.URL(s.NewBucket(t, name), ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformanceGCS(t *testing.T) {
	s := gcstest.New(t)
	for _, mode := range []string{AddressingDomain, AddressingPath} {
		t.Run(mode, func(t *testing.T) {
			conformance(t, newEnv(t, gcsTarget(t, s, "conf-"+strings.ToLower(mode)), mode, nil))
		})
	}
}

// TestOneRequestPerAnswerGCS counts the requests that reach the GCS
// emulator through serve: a GET hit (whole, ranged, open-ended,
// conditional, part 1) is one GET of the object (the XML API), a HEAD one
// attributes request (the JSON API), a miss the one request whose 404
// starts it. A suffix range costs the attributes and a GET: gocloud takes
// no suffix range, so the size comes first. Headers and bytes are the
// stored ones (user metadata as x-amz-meta-*, a gzip body as stored).
func TestOneRequestPerAnswerGCS(t *testing.T) {
	leakCheck(t)
	s := gcstest.New(t)
	name := "target"
	target := gcsTarget(t, s, name)
	o := newTestOrigin(t)
	o.set("fill", hundred)
	e := newEnv(t, target, AddressingDomain, originRules(o.URL))
	obj := func(key string) string { return "GET " + gcstest.ObjectPath(name, key) }
	attrs := func(key string) string { return "GET " + gcstest.MetadataPath(name, key) }
	upload := "POST /upload/storage/v1/b/" + name + "/o"
	etag := oneRequestPerAnswer(t, e, "the emulator", s.TakeStrings, obj, attrs)

	// A listing gives the ETag a HEAD and a GET give (the MD5).
	if r := doURL(t, "GET", e.ts.URL+"/?list-type=2&prefix=k"); r.status != 200 || !strings.Contains(r.body, "<Key>k</Key>") || !strings.Contains(r.body, "<ETag>"+strings.ReplaceAll(etag, `"`, "&#34;")+"</ETag>") {
		t.Errorf("listing: %d %s, want the ETag %s", r.status, r.body, etag)
	}
	s.TakeStrings()

	// A fill: the GET's 404 starts it, the commit writes the object (the
	// storage client's upload), and the next GET is a hit of one request.
	if r := e.do("GET", "fill"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Fatalf("fill: %d %v", r.status, r.header)
	}
	waitStored(t, target, "fill") // (its polls are attributes requests)
	got := s.TakeStrings()
	uploads := 0
	for i, r := range got {
		switch {
		case i == 0 && r == obj("fill"):
		case r == upload:
			uploads++
		case i > 0 && r == attrs("fill"):
		default:
			uploads = -1
		}
	}
	if len(got) == 0 || got[0] != obj("fill") || uploads != 1 {
		t.Errorf("fill: the emulator saw %q, want the GET and one upload", got)
	}
	if r := e.do("GET", "fill"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "hit" {
		t.Errorf("hit after fill: %d %v", r.status, r.header)
	}
	if got := s.TakeStrings(); !slices.Equal(got, []string{obj("fill")}) {
		t.Errorf("hit after fill: the emulator saw %q", got)
	}
	if n := o.count.Load(); n != 3 {
		t.Errorf("%d origin requests, want 3 (a HEAD, a 404 and a fill)", n)
	}
}

// A target bucket that is gone answers NoSuchBucket (404), on GET and
// HEAD, not a miss, with GCS's answers to such reads.
func TestGCSBucketGone(t *testing.T) {
	gcstest.NoBuckets(t)
	b, err := store.OpenWith(context.Background(), "gs://gone", store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bucketGone(t, b)
}

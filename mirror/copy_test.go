package mirror

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// Copy from a listable directory origin: bytes, the content headers, user
// metadata and the origin's validators arrive; plain files get their type by
// name; a second copy loses the create-only race quietly; a missing key is
// ErrNotFound; a body that fails the expected MD5 stores nothing. No spool
// file is used and nothing is journaled.
func TestCopyFromBucketOrigin(t *testing.T) {
	for _, tk := range targets {
		t.Run(tk.name, func(t *testing.T) {
			leakCheck(t)
			ctx := context.Background()
			dir := t.TempDir()
			src, err := store.OpenOrigin(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			body := payload(300<<10, 3)
			if err := src.WriteAll(ctx, "doc.bin", body, &blob.WriterOptions{ContentType: "application/x-doc", CacheControl: "max-age=9",
				Metadata: map[string]string{"owner": "alice"}}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "style.css"), []byte("a{}"), 0o644); err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, tk.open(t), nil)
			res, err := e.m.Copy(ctx, Request{Key: "doc.bin", Origin: src})
			if err != nil || !res.Stored || res.Bytes != int64(len(body)) {
				t.Fatalf("copy: %+v %v", res, err)
			}
			if !bytes.Equal(e.stored("doc.bin"), body) {
				t.Fatal("stored bytes differ")
			}
			a, err := e.target.Attributes(ctx, "doc.bin")
			if err != nil || a.ContentType != "application/x-doc" || a.CacheControl != "max-age=9" || a.Metadata["owner"] != "alice" ||
				a.Metadata[store.MetaOriginETag] == "" || a.Metadata[store.MetaOriginLastModified] == "" {
				t.Fatalf("attributes %+v %v", a, err)
			}
			if _, err := e.m.Copy(ctx, Request{Key: "style.css", Origin: src}); err != nil {
				t.Fatal(err)
			}
			if a, err := e.target.Attributes(ctx, "style.css"); err != nil || a.ContentType != "text/css" {
				t.Fatalf("plain file: %+v %v", a, err)
			}
			if res, err := e.m.Copy(ctx, Request{Key: "doc.bin", Origin: src}); err != nil || res.Stored {
				t.Fatalf("second copy: %+v %v", res, err)
			}
			if _, err := e.m.Copy(ctx, Request{Key: "gone", Origin: src}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing key: %v", err)
			}
			wrong := md5.Sum([]byte("something else"))
			if err := src.WriteAll(ctx, "new.bin", body, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Copy(ctx, Request{Key: "new.bin", Origin: src, MD5: wrong[:]}); failedReason(err) != "md5" {
				t.Fatalf("wrong MD5: %v", err)
			}
			if ok, _ := e.target.Exists(ctx, "new.bin"); ok {
				t.Fatal("object that failed its MD5 check is in the target")
			}
			e.assertNoSpool()
			if en := e.entries(); len(en) != 0 {
				t.Fatalf("copies journaled: %+v", en)
			}
		})
	}
}

// Copy through the rules: the mirror matches the key to its rule, the body
// is checked before the commit (a short one stores nothing), a key no rule
// matches is ErrNoRule and never reaches an origin.
func TestCopyThroughRules(t *testing.T) {
	leakCheck(t)
	ctx := context.Background()
	body := payload(70<<10, 4)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/img/a.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(body)
		case "/img/short.jpg":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
			_, _ = w.Write(body)
		default:
			http.NotFound(w, r)
		}
	})
	e := newEnv(t, targets[1].open(t), nil)
	set := &rules.Set{Rules: []rules.Rule{{KeyPrefix: "img/", Origin: o.URL + "/", FollowRedirects: true}}}
	res, err := e.m.Copy(ctx, Request{Key: "img/a.jpg", Rules: set})
	if err != nil || !res.Stored || res.Bytes != int64(len(body)) || !bytes.Equal(e.stored("img/a.jpg"), body) {
		t.Fatalf("copy: %+v %v", res, err)
	}
	if a, err := e.target.Attributes(ctx, "img/a.jpg"); err != nil || a.ContentType != "image/jpeg" {
		t.Fatalf("attributes %+v %v", a, err)
	}
	if _, err := e.m.Copy(ctx, Request{Key: "img/short.jpg", Rules: set}); failedReason(err) != "length" {
		t.Fatalf("short body: %v", err)
	}
	if _, err := e.m.Copy(ctx, Request{Key: "img/missing.jpg", Rules: set}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("origin 404: %v", err)
	}
	hits := o.hits.Load()
	if _, err := e.m.Copy(ctx, Request{Key: "doc/x", Rules: set}); !errors.Is(err, ErrNoRule) || o.hits.Load() != hits {
		t.Fatalf("no rule: %v, %d origin requests", err, o.hits.Load()-hits)
	}
	if ok, _ := e.target.Exists(ctx, "img/short.jpg"); ok {
		t.Fatal("short body stored")
	}
	e.assertNoSpool()
}

// The mirror picks the first matching rule (the journal numbers it from 1),
// and answers a HEAD only under a rule with mirror_head.
func TestRuleMatching(t *testing.T) {
	leakCheck(t)
	ctx := context.Background()
	var mu sync.Mutex
	var paths []string
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		_, _ = w.Write([]byte("x"))
	})
	set := &rules.Set{Rules: []rules.Rule{
		{KeyPrefix: "a/", Origin: o.URL + "/first/", FollowRedirects: true, MirrorHead: false},
		{Origin: o.URL + "/second/", FollowRedirects: true, MirrorHead: true},
	}}
	e := newEnv(t, targets[0].open(t), nil)
	for _, key := range []string{"a/k", "b/k"} {
		if _, err := e.fill(ctx, Request{Key: key, Rules: set}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.m.Head(ctx, Request{Key: "a/other", Rules: set}); !errors.Is(err, ErrNoRule) {
		t.Fatalf("HEAD under mirror_head false: %v", err)
	}
	if _, err := e.m.Head(ctx, Request{Key: "b/other", Rules: set}); err != nil {
		t.Fatalf("HEAD under mirror_head true: %v", err)
	}
	if _, err := e.m.Get(ctx, Request{Key: "c", Rules: &rules.Set{}}); !errors.Is(err, ErrNoRule) {
		t.Fatalf("no rules: %v", err)
	}
	mu.Lock()
	got := fmt.Sprint(paths)
	mu.Unlock()
	if got != "[GET /first/a/k GET /second/b/k HEAD /second/b/other]" {
		t.Fatalf("origin saw %s", got)
	}
	en := e.entries()
	if len(en) != 2 || en[0].Rule != 1 || en[1].Rule != 2 {
		t.Fatalf("journal %+v", en)
	}
}

func TestGetBodyPools(t *testing.T) {
	b, put := getBody(10)
	if len(b) != 10 {
		t.Fatalf("small: len %d", len(b))
	}
	put()
	b, put = getBody(3 << 20)
	if len(b) != 3<<20 || cap(b) != 4<<20 {
		t.Fatalf("3 MiB: len %d cap %d", len(b), cap(b))
	}
	b[0] = 42
	put()
	b2, put2 := getBody(4 << 20)
	defer put2()
	if len(b2) != 4<<20 || cap(b2) != 4<<20 {
		t.Fatalf("4 MiB: len %d cap %d", len(b2), cap(b2))
	}
}

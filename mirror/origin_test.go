package mirror

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
)

// Bucket origins: read with their attributes, metadata kept, the bucket
// opened once per URL; a missing key is ErrNotFound.
func TestBucketOrigin(t *testing.T) {
	for _, tk := range targets {
		t.Run(tk.name, func(t *testing.T) {
			leakCheck(t)
			ctx := context.Background()
			src := memblob.OpenBucket(nil)
			body := payload(700<<10, 7)
			sum := md5.Sum(body)
			err := src.WriteAll(ctx, "old/photos/a.jpg", body, &blob.WriterOptions{
				ContentType: "image/jpeg", CacheControl: "public", ContentMD5: sum[:],
				Metadata: map[string]string{"owner": "alice"},
			})
			if err != nil {
				t.Fatal(err)
			}
			var opens atomic.Int64
			e := newEnv(t, tk.open(t), func(o *Options) {
				o.OpenBucket = func(ctx context.Context, rawURL string) (*store.Bucket, error) {
					opens.Add(1)
					if rawURL != "mem://old" {
						t.Errorf("opened %q", rawURL)
					}
					return store.Wrap(src), nil
				}
			})
			rule := &rules.Rule{Origin: "mem://old", KeyPrefix: "photos/", ReplaceKeyPrefixWith: "old/photos/", FollowRedirects: true, MirrorHead: true}
			req := Request{Rules: ruleSet(rule), Key: "photos/a.jpg"}
			meta, err := e.m.Head(ctx, req)
			if err != nil || meta.Size != int64(len(body)) || meta.ContentType != "image/jpeg" {
				t.Fatalf("head: %+v %v", meta, err)
			}
			res, err := e.fill(ctx, req)
			if err != nil || !res.Stored || res.Bytes != int64(len(body)) {
				t.Fatalf("fill: %+v %v", res, err)
			}
			if !bytes.Equal(e.stored("photos/a.jpg"), body) {
				t.Fatal("stored bytes differ")
			}
			a, err := e.target.Attributes(ctx, "photos/a.jpg")
			if err != nil {
				t.Fatal(err)
			}
			if a.ContentType != "image/jpeg" || a.CacheControl != "public" || a.Metadata["owner"] != "alice" || a.Metadata[store.MetaOriginETag] == "" {
				t.Fatalf("attributes %+v", a)
			}
			_, err = e.fill(ctx, Request{Rules: ruleSet(rule), Key: "photos/missing.jpg"})
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing key: %v", err)
			}
			if _, err := e.m.Head(ctx, Request{Rules: ruleSet(rule), Key: "photos/missing.jpg"}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing key head: %v", err)
			}
			if opens.Load() != 1 {
				t.Fatalf("bucket opened %d times", opens.Load())
			}
		})
	}
}

// A key that rules refuse never reaches the origin.
func TestRefusedKey(t *testing.T) {
	leakCheck(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("x")) })
	e := newEnv(t, targets[0].open(t), nil)
	for _, k := range []string{"../etc/passwd", "a//b", "%2e%2e/x"} {
		_, err := e.m.Get(context.Background(), e.req(o.URL, k))
		if got := failedReason(err); got != "refused_key" {
			t.Fatalf("%q: %v (reason %q)", k, err, got)
		}
	}
	if o.hits.Load() != 0 {
		t.Fatal("refused key reached the origin")
	}
	e.assertClean()
}

func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"2606:4700::1111", true},
		{"127.0.0.1", false}, {"127.9.9.9", false}, {"::1", false},
		{"10.0.0.1", false}, {"172.16.5.4", false}, {"192.168.1.1", false}, {"fd00::1", false},
		{"169.254.169.254", false}, {"fe80::1", false},
		{"100.64.0.1", false}, {"100.127.255.255", false}, {"100.128.0.1", true},
		{"0.0.0.0", false}, {"::", false}, {"0.1.2.3", false},
		{"224.0.0.1", false}, {"ff02::1", false}, {"255.255.255.255", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:8.8.8.8", false}, {"::127.0.0.1", false},
		{"64:ff9b::7f00:1", false}, {"2002:7f00:1::", false}, {"2001:0:4136:e378::", false},
	} {
		if got := publicAddr(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("publicAddr(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
}

// The Observer sees one fill with its bytes; InFlight returns to zero.
func TestObserver(t *testing.T) {
	leakCheck(t)
	body := payload(200<<10, 11)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })
	obs := &observer{}
	e := newEnv(t, targets[0].open(t), func(op *Options) { op.Observer = obs })
	if _, err := e.fill(context.Background(), e.req(o.URL, "h")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fill(context.Background(), Request{Rules: ruleSet(httpRule(o.URL)), Key: "../bad"}); err == nil {
		t.Fatal("refused key filled")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.started.Load() != 2 || obs.inFlight.Load() != 0 || obs.originBytes.Load() != int64(len(body)) ||
		!reflect.DeepEqual(obs.results, []string{"stored/", "failed/refused_key"}) {
		t.Fatalf("started %d inflight %d bytes %d results %v", obs.started.Load(), obs.inFlight.Load(), obs.originBytes.Load(), obs.results)
	}
}

// A directory origin behind a rule: plain files get their type by extension
// (fill and origin HEAD alike), as a web server would have sent it.
func TestDirectoryOriginContentTypes(t *testing.T) {
	leakCheck(t)
	ctx := context.Background()
	dir := t.TempDir()
	for name, body := range map[string]string{"site/index.html": "<p>hi</p>", "site/app.js": "let a", "site/NOTICE": "n"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, targets[1].open(t), nil) // OpenBucket: store.OpenOrigin
	rule := &rules.Rule{Origin: "file://" + dir + "/site/", FollowRedirects: true, MirrorHead: true}
	for key, want := range map[string]string{"index.html": "text/html", "app.js": "application/javascript", "NOTICE": "application/octet-stream"} {
		meta, err := e.m.Head(ctx, Request{Rules: ruleSet(rule), Key: key})
		if err != nil || meta.ContentType != want {
			t.Fatalf("head %s: %+v %v, want type %s", key, meta, err, want)
		}
		if _, err := e.fill(ctx, Request{Rules: ruleSet(rule), Key: key}); err != nil {
			t.Fatal(err)
		}
		a, err := e.target.Attributes(ctx, key)
		if err != nil || a.ContentType != want {
			t.Fatalf("stored %s: %+v %v, want type %s", key, a, err, want)
		}
	}
}

package store_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

func TestDirectOnlyForS3WithEndpoint(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"mem://", "file://" + t.TempDir(), "s3://bucket?region=us-east-1", "s3://bucket?endpoint=http://127.0.0.1:1&direct_put=false"} {
		b, err := store.OpenWith(ctx, u, store.Options{SkipCheck: true})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if b.Direct() != nil {
			t.Errorf("%s: Direct != nil", u)
		}
		b.Close()
	}
	b, err := store.OpenWith(ctx, "s3://bucket/pre?endpoint=http://127.0.0.1:1", store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Direct() == nil {
		t.Error("s3 with endpoint: Direct == nil")
	}
	if _, err := store.OpenWith(ctx, "s3://bucket?endpoint=http://127.0.0.1:1&direct_put=maybe", store.Options{SkipCheck: true}); err == nil || !strings.Contains(err.Error(), `direct_put="maybe"`) {
		t.Errorf("bad direct_put: %v", err)
	}
}

func TestDirectEligible(t *testing.T) {
	ctx := context.Background()
	b, err := store.OpenWith(ctx, "s3://bucket?endpoint=http://127.0.0.1:1", store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d := b.Direct()
	for key, want := range map[string]bool{
		"plain/key.txt": true, "with space": true, "日本語/ファイル": true, "plus+sign%25&=?#": true, "a//b": true,
		"": false, "tab\there": false, "nl\n": false, "up/../x": false, "looks__0x41__escaped": false, "bad\xffutf8": false,
	} {
		if got := d.Eligible(key, nil); got != want {
			t.Errorf("Eligible(%q) = %v, want %v", key, got, want)
		}
	}
	for name, c := range map[string]struct {
		o    *blob.WriterOptions
		want bool
	}{
		"headers":          {&blob.WriterOptions{ContentType: "text/plain; charset=utf-8", CacheControl: "max-age=60", IfNotExist: true}, true},
		"plain metadata":   {&blob.WriterOptions{Metadata: map[string]string{"origin-etag": "abc-123_x.y~z"}}, true},
		"escaped metadata": {&blob.WriterOptions{Metadata: map[string]string{"a:b=c@d": "Grüße, 100% a/b", "Etag": `"x"`}}, true},
		"look-alike name":  {&blob.WriterOptions{Metadata: map[string]string{"a__0x41__": "v"}}, false},
		"empty name":       {&blob.WriterOptions{Metadata: map[string]string{"": "v"}}, false},
		"content md5":      {&blob.WriterOptions{ContentMD5: []byte("0123456789abcdef")}, false},
	} {
		if got := d.Eligible("k", c.o); got != c.want {
			t.Errorf("%s: Eligible = %v, want %v", name, got, c.want)
		}
	}
}

// A direct PUT stores exactly what the bucket's own writer stores: same key
// in the listing, same bytes, same headers and metadata, same MD5.
func TestDirectPutMatchesBucketWriter(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	// The direct PUT goes through fasthttp's client (the default) or Go's
	// net/http (fast_client=false); both must store what the writer stores.
	for _, c := range []struct{ prefix, params string }{{"", ""}, {"scoped/pre", ""}, {"", "&fast_client=false"}} {
		prefix := c.prefix
		t.Run("prefix="+prefix+c.params, func(t *testing.T) {
			name := s.NewBucket(t)
			viaDirect, err := store.Open(ctx, s.URL(name, prefix+"/direct")+c.params)
			if err != nil {
				t.Fatal(err)
			}
			defer viaDirect.Close()
			viaSDK, err := store.Open(ctx, s.URL(name, prefix+"/sdk"))
			if err != nil {
				t.Fatal(err)
			}
			defer viaSDK.Close()
			d := viaDirect.Direct()
			if d == nil {
				t.Fatal("no DirectPutter for a MinIO bucket")
			}
			opts := []*blob.WriterOptions{
				{IfNotExist: true},
				{IfNotExist: true, ContentType: "image/jpeg", ContentEncoding: "gzip", ContentDisposition: `attachment; filename="a b.jpg"`,
					ContentLanguage: "de", CacheControl: "max-age=3600", Metadata: map[string]string{"origin-etag": "abc-1", "x": "y"}},
				{ContentType: "", DisableContentTypeDetection: true},
				{ContentType: "Text/HTML;Charset=UTF-8", Metadata: map[string]string{"MixedCase": "v"}},
				{IfNotExist: true, Metadata: map[string]string{"origin-etag": `"5f3e-1000"`, "origin-last-modified": "Thu, 26 Nov 2026 13:00:00 GMT",
					"a:b=c@d": "Grüße, 世界 100% +x", "path": "v/w?x#y&z", "ÄÖ": "é"}},
			}
			keys := []string{"plain.txt", "with space/a b.html", "日本語/ファイル", "plus+sign", "per%cent", "amp&eq=q?h#", "emoji/😀", "trailing.", "~tilde!*'()", strings.Repeat("segment-x/", 90) + "end"}
			for i, key := range keys {
				o := opts[i%len(opts)]
				body := []byte("<html><body>content of " + key + "</body></html>")
				if !d.Eligible(key, o) {
					t.Fatalf("key %q not eligible", key)
				}
				if err := d.Put(ctx, key, body, o); err != nil {
					t.Fatalf("direct put %q: %v", key, err)
				}
				if err := viaSDK.WriteAll(ctx, key, body, o); err != nil {
					t.Fatalf("bucket write %q: %v", key, err)
				}
				got, err := viaDirect.ReadAll(ctx, key)
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("read back %q: %q, %v", key, got, err)
				}
				a, err := viaDirect.Attributes(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				w, err := viaSDK.Attributes(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				sum := md5.Sum(body)
				if !bytes.Equal(a.MD5, sum[:]) {
					t.Errorf("%q: MD5 %x, want %x", key, a.MD5, sum)
				}
				type attrs struct {
					CT, CE, CD, CL, CC string
					Size               int64
					Meta               map[string]string
				}
				ga := attrs{a.ContentType, a.ContentEncoding, a.ContentDisposition, a.ContentLanguage, a.CacheControl, a.Size, a.Metadata}
				gw := attrs{w.ContentType, w.ContentEncoding, w.ContentDisposition, w.ContentLanguage, w.CacheControl, w.Size, w.Metadata}
				if !reflect.DeepEqual(ga, gw) {
					t.Errorf("%q: direct put stored %+v, the bucket writer %+v", key, ga, gw)
				}
			}
			if a, w := keysOf(t, viaDirect.Bucket), keysOf(t, viaSDK.Bucket); !reflect.DeepEqual(a, w) || len(a) != len(keys) {
				t.Errorf("listings differ:\ndirect %q\nsdk    %q", a, w)
			}
		})
	}
}

func keysOf(t *testing.T, b *blob.Bucket) []string {
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
	return keys
}

func TestDirectPutCreateOnlyAndErrors(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	name := s.NewBucket(t)
	b, err := store.Open(ctx, s.URL(name, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d := b.Direct()
	create := &blob.WriterOptions{IfNotExist: true}

	if err := d.Put(ctx, "k", []byte("first"), create); err != nil {
		t.Fatal(err)
	}
	err = d.Put(ctx, "k", []byte("second"), create)
	if !store.IsExists(err) || store.IsNotFound(err) || store.IsPermission(err) {
		t.Fatalf("second create-only put: %v (IsExists %v)", err, store.IsExists(err))
	}
	if err := b.WriteAll(ctx, "g", []byte("gocloud"), nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "g", []byte("direct"), create); !store.IsExists(err) {
		t.Fatalf("put over a bucket-written key: %v", err)
	}
	for key, want := range map[string]string{"k": "first", "g": "gocloud"} {
		if got, err := b.ReadAll(ctx, key); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", key, got, err, want)
		}
	}

	// A cancelled request stores nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Put(cctx, "cancelled", []byte("x"), create); err == nil {
		t.Error("put with a cancelled context succeeded")
	}
	if ok, _ := b.Exists(ctx, "cancelled"); ok {
		t.Error("cancelled put is visible")
	}

	// A missing bucket is not found, and Explain says so.
	missing, err := store.OpenWith(ctx, s.URL("no-such-bucket-ferry", ""), store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer missing.Close()
	err = missing.Direct().Put(ctx, "k", []byte("x"), create)
	if !store.IsNotFound(err) || !strings.Contains(store.Explain(err), "bucket not found") {
		t.Errorf("missing bucket: %v / %s", err, store.Explain(err))
	}

	// Bad credentials are a permission error that names the cause.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	bad, err := store.OpenWith(ctx, s.URL(name, ""), store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.Direct().Put(ctx, "other", []byte("x"), create)
	if !store.IsPermission(err) || !strings.Contains(store.Explain(err), "bad credentials: SignatureDoesNotMatch") {
		t.Errorf("bad credentials: %v / %s", err, store.Explain(err))
	}
	var sc interface{ HTTPStatusCode() int }
	if !errors.As(err, &sc) || sc.HTTPStatusCode() != 403 {
		t.Errorf("bad credentials: no HTTP status 403 in %v", err)
	}
	if ok, _ := b.Exists(ctx, "other"); ok {
		t.Error("refused put is visible")
	}
}

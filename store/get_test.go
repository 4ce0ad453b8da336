package store_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
)

// got is what a read gave, in comparable form.
type got struct {
	Meta           store.Meta
	Body           string
	Offset, Length int64
	NotFound, Gone bool
	BadRange       bool
	Err            bool
}

func read(t *testing.T, b *store.Bucket, key, rng string, head bool) got {
	t.Helper()
	ctx := context.Background()
	var g got
	var err error
	if head {
		g.Meta, err = b.Head(ctx, key)
	} else {
		var o *store.Object
		o, err = b.Get(ctx, key, rng)
		if err == nil && o.Body == nil {
			g.Meta, g.Offset, g.Length = o.Meta, o.Offset, o.Length // the Meta only
		} else if err == nil {
			g.Meta, g.Offset, g.Length = o.Meta, o.Offset, o.Length
			data, rerr := io.ReadAll(o.Body)
			o.Body.Close()
			if rerr != nil {
				t.Fatalf("read %q: %v", key, rerr)
			}
			g.Body = string(data)
		}
	}
	if err != nil {
		g = got{NotFound: store.IsNotFound(err), Gone: store.IsNoSuchBucket(err), BadRange: store.IsInvalidRange(err), Err: true}
	}
	if len(g.Meta.Metadata) == 0 {
		g.Meta.Metadata = nil // s3blob's Attributes give an empty map, its reader nil
	}
	g.Meta.LastModified = g.Meta.LastModified.UTC()
	return g
}

// openBoth opens the bucket at u twice: with the direct GET/HEAD/PUT path
// (the default for endpoint= URLs) and through the SDK alone, for tests
// that hold the two to the same answers. Both are closed when t ends.
func openBoth(t *testing.T, u string) (direct, sdk *store.Bucket) {
	t.Helper()
	var err error
	if direct, err = store.Open(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	if sdk, err = store.Open(context.Background(), u+"&direct_put=false"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdk.Close() })
	if direct.Direct() == nil || sdk.Direct() != nil {
		t.Fatal("want one bucket with and one without the direct path")
	}
	return direct, sdk
}

// The direct GET and HEAD give exactly what the SDK path gives for the same
// object: Meta (headers, user metadata unescaped, MD5), bytes, the part of
// the object the body holds, and the same errors.
func TestDirectGetMatchesSDK(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	name := s.NewBucket(t)
	// The direct path reads through fasthttp's client (the default) or Go's
	// net/http (fast_client=false); both must give the SDK's answers.
	for _, c := range []struct{ prefix, params string }{{"", ""}, {"scoped", ""}, {"", "&fast_client=false"}} {
		prefix := c.prefix
		t.Run("prefix="+prefix+c.params, func(t *testing.T) {
			direct, _ := openBoth(t, s.URL(name, prefix)+c.params)
			_, sdk := openBoth(t, s.URL(name, prefix))
			objects := map[string]*blob.WriterOptions{
				"plain.txt": nil,
				"dir/a b+c%d.html": {ContentType: "text/html; charset=utf-8", ContentEncoding: "identity", ContentDisposition: `attachment; filename="a b.html"`,
					ContentLanguage: "de", CacheControl: "max-age=60",
					Metadata: map[string]string{"origin-etag": `"5f3e-1000"`, "expires": "Thu, 01 Jan 2037 00:00:00 GMT", "a:b=c@d": "Grüße, 世界 100% +x", "x": "y z"}},
				"日本語/ファイル": {Metadata: map[string]string{"ÄÖ": "é"}},
				"empty":    nil,
				"dir/":     nil,
				"big.bin":  {Metadata: map[string]string{"k": "v"}}, // bigger than what comes with the headers: streamed
			}
			for key, o := range objects {
				body := strings.Repeat("0123456789", 3) + key
				switch key {
				case "empty", "dir/":
					body = ""
				case "big.bin":
					body = strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", 300<<10/32)
				}
				if err := sdk.WriteAll(ctx, key, []byte(body), o); err != nil {
					t.Fatal(err)
				}
			}
			keys := []string{"missing", "dir"}
			for k := range objects {
				keys = append(keys, k)
			}
			for _, key := range keys {
				for _, rng := range []string{"", "bytes=0-9", "bytes=5-", "bytes=-4", "bytes=10-1000", "bytes=1000-", "bytes=0-0", "bytes=100-200000"} {
					d, w := read(t, direct, key, rng, false), read(t, sdk, key, rng, false)
					if !reflect.DeepEqual(d, w) {
						t.Errorf("GET %q %s:\ndirect %+v\nsdk    %+v", key, rng, d, w)
					}
				}
				d, w := read(t, direct, key, "", true), read(t, sdk, key, "", true)
				if !reflect.DeepEqual(d, w) {
					t.Errorf("HEAD %q:\ndirect %+v\nsdk    %+v", key, d, w)
				}
				if _, ok := objects[key]; ok && (d.Err || d.Meta.Size < 0 || d.Meta.ETag == "") {
					t.Errorf("HEAD %q: %+v", key, d)
				}
			}
			g := read(t, direct, "dir/a b+c%d.html", "bytes=-4", false)
			if g.Body != "html" || g.Offset != g.Meta.Size-4 || g.Length != 4 || g.Meta.Metadata["a:b=c@d"] != "Grüße, 世界 100% +x" {
				t.Errorf("suffix range: %+v", g)
			}
			if g := read(t, direct, "plain.txt", "bytes=1000-", false); !g.BadRange || g.NotFound {
				t.Errorf("unsatisfiable range: %+v", g)
			}
			if g := read(t, direct, "missing", "", false); !g.NotFound || g.Gone {
				t.Errorf("missing key: %+v", g)
			}
		})
	}

	// A bucket that is gone: NoSuchBucket on GET for both paths (a HEAD has
	// no body; MinIO names the code in a header, the SDK's HEAD cannot).
	gone := s.NewBucket(t)
	if _, err := s.Client().DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(gone)}); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "&direct_put=false"} {
		b, err := store.OpenWith(ctx, s.URL(gone, "")+suffix, store.Options{SkipCheck: true})
		if err != nil {
			t.Fatal(err)
		}
		if g := read(t, b, "k", "", false); !g.Gone || !g.NotFound {
			t.Errorf("GET in a deleted bucket (%q): %+v", suffix, g)
		}
		if g := read(t, b, "k", "", true); !g.NotFound {
			t.Errorf("HEAD in a deleted bucket (%q): %+v", suffix, g)
		}
		b.Close()
	}
}

// Buckets that are not S3 answer Get with the Meta only: the caller reads
// the bytes it needs.
func TestGetWithoutBody(t *testing.T) {
	ctx := context.Background()
	b := store.Wrap(memblob.OpenBucket(nil))
	defer b.Close()
	if err := b.WriteAll(ctx, "k", []byte("hello"), &blob.WriterOptions{ContentType: "text/plain", Metadata: map[string]string{"m": "v"}}); err != nil {
		t.Fatal(err)
	}
	o, err := b.Get(ctx, "k", "bytes=0-1")
	if err != nil || o.Body != nil || o.Meta.Size != 5 || o.Meta.ContentType != "text/plain" || o.Meta.Metadata["m"] != "v" {
		t.Fatalf("Get = %+v, %v", o, err)
	}
	if _, err := b.Get(ctx, "missing", ""); !store.IsNotFound(err) || store.IsNoSuchBucket(err) {
		t.Fatalf("missing: %v", err)
	}
	if m, err := b.Head(ctx, "k"); err != nil || m.Size != 5 {
		t.Fatalf("Head = %+v, %v", m, err)
	}
}

// With anonymous_reads, a GET or HEAD goes unsigned first and gives the
// answer a signed one gives: once for a bucket everyone may read, and
// asked again signed after the 403 of a bucket that is not public (or a
// key the public may not read). The bucket's writes stay signed.
func TestAnonymousReads(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	up, _ := url.Parse(s.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(up)
	var mu sync.Mutex
	var sent []string // "METHOD signed|unsigned STATUS"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		how := "unsigned"
		if r.Header.Get("Authorization") != "" {
			how = "signed"
		}
		mu.Lock()
		sent = append(sent, fmt.Sprintf("%s %s %d", r.Method, how, rec.status))
		mu.Unlock()
	}))
	defer srv.Close()
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := sent
		sent = nil
		return out
	}
	public, private := s.NewBucket(t), s.NewBucket(t)
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, public)
	if _, err := s.Client().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(public), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	opts := &blob.WriterOptions{ContentType: "text/html", CacheControl: "max-age=60", Metadata: map[string]string{"origin-etag": `"5f3e"`, "x": "y z"}}
	for _, tc := range []struct {
		bucket string
		tries  string // what each read sends
	}{
		{public, "unsigned"},
		{private, "unsigned 403, then signed"},
	} {
		u := "s3://" + tc.bucket + "?endpoint=" + srv.URL + "&region=us-east-1"
		signed, err := store.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer signed.Close()
		anon, err := store.Open(ctx, u+"&anonymous_reads=true")
		if err != nil {
			t.Fatal(err)
		}
		defer anon.Close()
		take() // the buckets' checks
		if err := anon.WriteAll(ctx, "dir/page.html", []byte("0123456789 hello"), opts); err != nil {
			t.Fatal(err)
		}
		if got := take(); len(got) != 1 || !strings.HasPrefix(got[0], "PUT signed 2") {
			t.Errorf("%s: the write sent %q, want one signed PUT", tc.bucket, got)
		}
		for _, key := range []string{"dir/page.html", "missing"} {
			for _, rng := range []string{"", "bytes=2-5", "bytes=1000-"} {
				want := read(t, signed, key, rng, false)
				take()
				if g := read(t, anon, key, rng, false); !reflect.DeepEqual(g, want) {
					t.Errorf("%s: GET %q %s:\nanonymous %+v\nsigned    %+v", tc.bucket, key, rng, g, want)
				}
				checkTries(t, tc.bucket, "GET", take(), tc.tries)
			}
			want := read(t, signed, key, "", true)
			take()
			if g := read(t, anon, key, "", true); !reflect.DeepEqual(g, want) {
				t.Errorf("%s: HEAD %q:\nanonymous %+v\nsigned    %+v", tc.bucket, key, g, want)
			}
			checkTries(t, tc.bucket, "HEAD", take(), tc.tries)
		}
		if g := read(t, anon, "dir/page.html", "", false); g.Body != "0123456789 hello" || g.Meta.Metadata["x"] != "y z" || g.Meta.CacheControl != "max-age=60" {
			t.Errorf("%s: anonymous GET %+v", tc.bucket, g)
		}
	}
	for _, bad := range []string{"&anonymous_reads=maybe", "&anonymous_reads=true&direct_put=false"} {
		if _, err := store.Open(ctx, "s3://"+public+"?endpoint="+srv.URL+bad); err == nil || !strings.Contains(err.Error(), "anonymous_reads") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// checkTries checks the requests one read sent: "unsigned" (one), or
// "unsigned 403, then signed".
func checkTries(t *testing.T, bucket, method string, sent []string, tries string) {
	t.Helper()
	ok := len(sent) == 1 && strings.HasPrefix(sent[0], method+" unsigned ") && !strings.HasSuffix(sent[0], " 403")
	if tries != "unsigned" {
		ok = len(sent) == 2 && sent[0] == method+" unsigned 403" && strings.HasPrefix(sent[1], method+" signed ")
	}
	if !ok {
		t.Errorf("%s: a %s sent %q, want %s", bucket, method, sent, tries)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

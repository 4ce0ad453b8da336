package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/azuritetest"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

func TestMain(m *testing.M) {
	code := miniotest.Run(m)
	azuritetest.Stop()
	os.Exit(code)
}

// driver is one backend the suite runs on.
type driver struct {
	name string
	// open returns a fresh empty bucket and a func that lists leftovers that
	// must not exist after an aborted write (temp files, pending uploads).
	open      func(t *testing.T) (*blob.Bucket, func() []string)
	listsByte bool // lists keys in byte order
}

func drivers() []driver {
	return []driver{
		{name: "mem", listsByte: true, open: func(t *testing.T) (*blob.Bucket, func() []string) {
			b, err := store.Open(context.Background(), "mem://")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b.Bucket, func() []string { return nil }
		}},
		{name: "file", open: func(t *testing.T) (*blob.Bucket, func() []string) {
			dir := filepath.Join(t.TempDir(), "target")
			b, err := store.Open(context.Background(), "file://"+dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b.Bucket, func() []string {
				var left []string
				_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
					if err == nil && strings.HasSuffix(p, ".tmp") {
						left = append(left, p)
					}
					return nil
				})
				return left
			}
		}},
		{name: "minio", open: func(t *testing.T) (*blob.Bucket, func() []string) {
			s := miniotest.Get(t)
			name := s.NewBucket(t)
			b, err := store.Open(context.Background(), s.URL(name, ""))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b.Bucket, func() []string {
				if n := s.PendingUploads(t, name); n > 0 {
					return []string{fmt.Sprintf("%d pending multipart uploads", n)}
				}
				return nil
			}
		}},
	}
}

func forEach(t *testing.T, f func(t *testing.T, d driver)) {
	for _, d := range drivers() {
		t.Run(d.name, func(t *testing.T) { f(t, d) })
	}
}

func TestNotFoundMapping(t *testing.T) {
	forEach(t, func(t *testing.T, d driver) {
		b, _ := d.open(t)
		ctx := context.Background()
		if _, err := b.Attributes(ctx, "missing/key"); !store.IsNotFound(err) {
			t.Errorf("Attributes: IsNotFound(%v) = false", err)
		}
		if _, err := b.NewReader(ctx, "missing/key", nil); !store.IsNotFound(err) {
			t.Errorf("NewReader: IsNotFound(%v) = false", err)
		}
		if _, err := b.NewRangeReader(ctx, "missing/key", 2, 3, nil); !store.IsNotFound(err) {
			t.Errorf("NewRangeReader: IsNotFound(%v) = false", err)
		}
		if store.IsNotFound(nil) || store.IsExists(nil) {
			t.Error("nil error classified")
		}
	})
}

func TestCreateOnly(t *testing.T) {
	forEach(t, func(t *testing.T, d driver) {
		b, _ := d.open(t)
		ctx := context.Background()
		opts := &blob.WriterOptions{IfNotExist: true}
		if err := b.WriteAll(ctx, "k", []byte("first"), opts); err != nil {
			t.Fatal(err)
		}
		err := b.WriteAll(ctx, "k", []byte("second"), opts)
		if !store.IsExists(err) {
			t.Fatalf("second create-only write: IsExists(%v) = false", err)
		}
		if store.IsNotFound(err) {
			t.Fatal("exists error classified as not found")
		}
		got, err := b.ReadAll(ctx, "k")
		if err != nil || string(got) != "first" {
			t.Fatalf("content after lost race = %q, %v; want first", got, err)
		}
	})
}

func TestCancelledWriteLeavesNothing(t *testing.T) {
	sizes := map[string]int{"small": 1000, "multipart": 12 << 20} // above the 5 MiB part size
	forEach(t, func(t *testing.T, d driver) {
		for name, size := range sizes {
			t.Run(name, func(t *testing.T) {
				b, leftovers := d.open(t)
				ctx, cancel := context.WithCancel(context.Background())
				w, err := b.NewWriter(ctx, "obj", &blob.WriterOptions{IfNotExist: true, BufferSize: 5 << 20})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(bytes.Repeat([]byte("x"), size)); err != nil {
					t.Fatal(err)
				}
				cancel()
				if err := w.Close(); err == nil {
					t.Fatal("Close after cancel succeeded")
				}
				bg := context.Background()
				if ok, err := b.Exists(bg, "obj"); err != nil || ok {
					t.Fatalf("object visible after cancelled write: exists=%v err=%v", ok, err)
				}
				it := b.List(nil)
				if obj, err := it.Next(bg); err != io.EOF {
					t.Fatalf("listing not empty after cancelled write: %v %v", obj, err)
				}
				if left := leftovers(); len(left) > 0 {
					t.Fatalf("leftovers after cancelled write: %v", left)
				}
			})
		}
	})
}

func TestMetadataRoundTrip(t *testing.T) {
	forEach(t, func(t *testing.T, d driver) {
		b, _ := d.open(t)
		ctx := context.Background()
		opts := &blob.WriterOptions{
			ContentType:        "image/jpeg",
			ContentEncoding:    "gzip",
			ContentDisposition: `attachment; filename="a.jpg"`,
			ContentLanguage:    "de",
			CacheControl:       "max-age=3600",
			Metadata:           map[string]string{"origin-etag": `"abc"`, "note": "Grüße, 世界"},
		}
		if err := b.WriteAll(ctx, "m", []byte("data"), opts); err != nil {
			t.Fatal(err)
		}
		a, err := b.Attributes(ctx, "m")
		if err != nil {
			t.Fatal(err)
		}
		checks := map[string][2]string{
			"ContentType":        {a.ContentType, opts.ContentType},
			"ContentEncoding":    {a.ContentEncoding, opts.ContentEncoding},
			"ContentDisposition": {a.ContentDisposition, opts.ContentDisposition},
			"ContentLanguage":    {a.ContentLanguage, opts.ContentLanguage},
			"CacheControl":       {a.CacheControl, opts.CacheControl},
			"meta origin-etag":   {a.Metadata["origin-etag"], `"abc"`},
			"meta note":          {a.Metadata["note"], "Grüße, 世界"},
		}
		for name, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s = %q, want %q", name, c[0], c[1])
			}
		}
		if a.Size != 4 {
			t.Errorf("Size = %d", a.Size)
		}
	})
}

func oddKeys() []string {
	return []string{
		"with space/a b.txt",
		"unicode/日本語/ファイル.txt",
		"plus/a+b+c",
		"percent/100%25/%41",
		"hash/a#b",
		"question/a?b=c",
		"double//slash",
		"trailing/",
		longKey(),
		"tab\tkey",
		"a.b", "a/b", "a-b",
	}
}

// longKey is a 1,024-byte key made of 200-byte segments (file systems limit
// one name to 255 bytes).
func longKey() string {
	seg := strings.Repeat("k", 199)
	k := strings.Repeat(seg+"/", 5)
	return k + strings.Repeat("z", 1024-len(k))
}

func TestOddKeysAndListingOrder(t *testing.T) {
	forEach(t, func(t *testing.T, d driver) {
		b, _ := d.open(t)
		ctx := context.Background()
		want := map[string]bool{}
		for _, k := range oddKeys() {
			if err := b.WriteAll(ctx, k, []byte(k), nil); err != nil {
				if d.name == "minio" && strings.Contains(k, "//") {
					t.Logf("MinIO refuses %q (expected): %v", k, err)
					continue
				}
				if d.name == "file" && strings.HasSuffix(k, "/") {
					t.Logf("fileblob refuses %q (expected): %v", k, err)
					continue
				}
				t.Fatalf("write %q: %v", k, err)
			}
			want[k] = true
		}
		// Pad to more than one list page.
		for i := 0; i < 1100; i++ {
			k := fmt.Sprintf("page/%05d", i)
			if err := b.WriteAll(ctx, k, []byte("p"), nil); err != nil {
				t.Fatal(err)
			}
			want[k] = true
		}
		var got []string
		it := b.List(&blob.ListOptions{})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, obj.Key)
		}
		if len(got) != len(want) {
			t.Fatalf("listed %d keys, want %d", len(got), len(want))
		}
		for _, k := range got {
			if !want[k] {
				t.Errorf("listed unexpected key %q", k)
			}
			data, err := b.ReadAll(ctx, k)
			if err != nil {
				t.Fatalf("read %q: %v", k, err)
			}
			if !strings.HasPrefix(k, "page/") && string(data) != k {
				t.Errorf("content of %q = %q", k, data)
			}
		}
		inOrder := sort.StringsAreSorted(got)
		if d.listsByte && !inOrder {
			t.Errorf("%s does not list in byte order", d.name)
		}
		t.Logf("%s lists in byte order: %v (scan's merge-join must not rely on it)", d.name, inOrder)
	})
}

func TestRangeReads(t *testing.T) {
	forEach(t, func(t *testing.T, d driver) {
		b, _ := d.open(t)
		ctx := context.Background()
		data := []byte("0123456789abcdef")
		if err := b.WriteAll(ctx, "r", data, nil); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			off, n int64
			want   string
		}{{0, 4, "0123"}, {5, 3, "567"}, {10, -1, "abcdef"}, {15, 10, "f"}} {
			r, err := b.NewRangeReader(ctx, "r", c.off, c.n, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(got) != c.want {
				t.Errorf("range %d+%d = %q, %v; want %q", c.off, c.n, got, err, c.want)
			}
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct{ url, want string }{
		{"ftp://x/y", "unsupported scheme"},
		{"s3://", "no bucket name"},
		{"", "empty URL"},
		{"file://" + filepath.Join(t.TempDir(), "f") + "?x=1", "no query parameters"},
	}
	for _, c := range cases {
		_, err := store.Open(ctx, c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want error containing %q", c.url, err, c.want)
		}
	}
	// An origin directory must exist; a target directory is created.
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := store.OpenOrigin(ctx, missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("OpenOrigin(missing) = %v", err)
	}
	b, err := store.Open(ctx, missing)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if st, err := os.Stat(missing); err != nil || !st.IsDir() {
		t.Errorf("target dir not created: %v", err)
	}
}

func TestOpenMinIOErrors(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	_, err := store.Open(ctx, s.URL("no-such-bucket", ""))
	if err == nil || !strings.Contains(err.Error(), "bucket not found") || !strings.Contains(err.Error(), "s3://no-such-bucket") {
		t.Errorf("missing bucket: %v", err)
	}
	_, err = store.Open(ctx, "s3://b?endpoint=http://127.0.0.1:1&region=us-east-1")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the endpoint") {
		t.Errorf("wrong endpoint: %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	_, err = store.Open(ctx, s.URL(s.NewBucket(t), ""))
	if err == nil || !strings.Contains(err.Error(), "bad credentials") {
		t.Errorf("bad credentials: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the secret: %v", err)
	}
}

func TestPrefixScopesBucket(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	name := s.NewBucket(t)
	b, err := store.Open(ctx, s.URL(name, "sub/dir"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "k", []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	root, err := store.Open(ctx, s.URL(name, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if ok, _ := root.Exists(ctx, "sub/dir/k"); !ok {
		t.Fatal("prefix not applied")
	}
}

func TestRedact(t *testing.T) {
	got := store.Redact("s3://user:pass@b/p?endpoint=http://x&secret_key=abc&session_token=t")
	if strings.Contains(got, "pass") || strings.Contains(got, "abc") || strings.Contains(got, "=t") {
		t.Errorf("Redact leaked: %s", got)
	}
	if errors.Is(nil, io.EOF) {
		t.Fatal()
	}
	// user:password in an endpoint, access key ids and signatures in any
	// spelling; other parameters stay readable.
	got = store.Redact("s3://b?endpoint=http://minio:hunter2@10.0.0.5:9000&access_key_id=AKIAXYZ&AWSAccessKeyId=AKIA2&X-Amz-Signature=f00&region=cn-north-1")
	for _, leak := range []string{"hunter2", "minio:", "AKIAXYZ", "AKIA2", "f00"} {
		if strings.Contains(got, leak) {
			t.Errorf("Redact leaked %q: %s", leak, got)
		}
	}
	for _, keep := range []string{"region=cn-north-1", "10.0.0.5%3A9000"} {
		if !strings.Contains(got, keep) {
			t.Errorf("Redact dropped %q: %s", keep, got)
		}
	}
}

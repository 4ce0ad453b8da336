package scan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// siteFiles is a small website as a web server's document root holds it:
// plain files, no sidecars. big.mp4 is over the direct-PUT size, so both
// write paths into S3 are covered.
var siteFiles = map[string]string{
	"index.html":           "text/html",
	"css/style.css":        "text/css",
	"js/app.js":            "application/javascript",
	"api/data.json":        "application/json",
	"img/logo.svg":         "image/svg+xml",
	"fonts/inter.woff2":    "font/woff2",
	"img/photo.webp":       "image/webp",
	"video/big.mp4":        "video/mp4",
	"LICENSE":              store.DefaultContentType,
	"downloads/tool.v2.gz": "application/gzip",
}

func writeSite(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for k := range siteFiles {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		body := []byte("<!-- " + k + " -->")
		if k == "video/big.mp4" {
			body = bytes.Repeat([]byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p'}, (2<<20)/8)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A directory origin gets the types its web server would have sent, by
// extension, not application/octet-stream (or a sniffed text/plain).
func TestDirectoryOriginContentTypes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target func(t *testing.T) string
	}{
		{"file", fileURL},
		{"minio", func(t *testing.T) string { return miniotest.Get(t).BucketURL(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := open(t, "file://"+writeSite(t)), open(t, tc.target(t))
			res := runScan(t, Options{Origin: src, Target: dst, Transfers: 4})
			if res.Copied != int64(len(siteFiles)) {
				t.Fatalf("copied %d of %d: %+v", res.Copied, len(siteFiles), res.Failures)
			}
			checkTypes(t, dst, func(k string) string { return siteFiles[k] })
		})
	}
}

// The operator's mime.types file overrides ferry's table; keys it does not
// name keep ferry's types.
func TestDirectoryOriginMIMETypesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mime.types")
	if err := os.WriteFile(file, []byte("text/html; charset=utf-8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.LoadContentTypes(file); err == nil {
		t.Fatal("a media type with parameters in Apache's format was accepted")
	}
	if err := os.WriteFile(file, []byte("application/x-site-font woff2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ct, err := store.LoadContentTypes(file)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := open(t, "file://"+writeSite(t)), open(t, fileURL(t))
	runScan(t, Options{Origin: src, Target: dst, ContentTypes: ct})
	checkTypes(t, dst, func(k string) string {
		if k == "fonts/inter.woff2" {
			return "application/x-site-font"
		}
		return siteFiles[k]
	})
}

// A directory that fileblob wrote (with sidecars, e.g. an earlier target
// used as origin) keeps the recorded types, whatever the extension says.
func TestDirectoryOriginWithSidecarsKeepsTypes(t *testing.T) {
	dir := t.TempDir()
	src := open(t, "file://"+dir)
	if err := src.WriteAll(context.Background(), "page.html", []byte("x"), &blob.WriterOptions{ContentType: "text/x-recorded"}); err != nil {
		t.Fatal(err)
	}
	dst := open(t, fileURL(t))
	runScan(t, Options{Origin: src, Target: dst})
	checkTypes(t, dst, func(string) string { return "text/x-recorded" })
}

// A bucket origin keeps the type it recorded, even the default one or one
// the extension contradicts: only plain files of a directory are typed by
// name.
func TestBucketOriginKeepsTypes(t *testing.T) {
	src := open(t, miniotest.Get(t).BucketURL(t))
	recorded := map[string]string{"page.html": store.DefaultContentType, "style.css": "text/plain", "LICENSE": "text/x-license"}
	for k, ct := range recorded {
		if err := src.WriteAll(context.Background(), k, []byte("x"), &blob.WriterOptions{ContentType: ct}); err != nil {
			t.Fatal(err)
		}
	}
	dst := open(t, fileURL(t))
	if res := runScan(t, Options{Origin: src, Target: dst}); res.Copied != int64(len(recorded)) {
		t.Fatalf("copied %d: %+v", res.Copied, res.Failures)
	}
	checkTypes(t, dst, func(k string) string { return recorded[k] })
}

func checkTypes(t *testing.T, b *store.Bucket, want func(key string) string) {
	t.Helper()
	for _, k := range keysOf(t, b) {
		a, err := b.Attributes(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if a.ContentType != want(k) {
			t.Errorf("%s: stored Content-Type %q, want %q", k, a.ContentType, want(k))
		}
	}
}

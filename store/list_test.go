package store_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// listOddKeys are written through the bucket (gocloud escapes the control
// characters, "../" and "__0x" look-alikes before they reach S3).
var listOddKeys = []string{
	"plain.txt", "with space/a b.html", "  leading and trailing  ", "日本語/ファイル", "plus+sign", "per%cent", "per%25cent",
	"amp&lt;=q?h#", `quote"apos'`, "emoji/😀", "a/b", "a-b", "a.b", "nl\nin/key", "tab\tkey", "up/../x",
	"looks__0x41__escaped", "~tilde!*'()", "dir/sub/x", "dir/sub/y", "dir/z", "dir2/only",
	strings.Repeat("segment-x/", 90) + "end",
}

// The lean listing lists exactly what the bucket's own ListPage (the SDK
// and gocloud) lists: keys, sizes, ETags, MD5s, modification times and
// common prefixes, with and without a bucket prefix, a listing prefix, a
// delimiter, start-after and small pages (continuation tokens).
func TestListerMatchesBucket(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	name := s.NewBucket(t)
	for _, prefix := range []string{"", "scoped/pre"} {
		b, err := store.Open(ctx, s.URL(name, prefix))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		for i, key := range listOddKeys {
			if err := b.WriteAll(ctx, key, bytes.Repeat([]byte("x"), i), nil); err != nil {
				t.Fatalf("write %q: %v", key, err)
			}
		}
	}
	for _, prefix := range []string{"", "scoped/pre", "scoped"} {
		b, err := store.Open(ctx, s.URL(name, prefix))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if b.Lister() == nil {
			t.Fatal("no Lister for a MinIO bucket")
		}
		for _, c := range []struct {
			name string
			o    store.ListOptions
		}{
			{"all", store.ListOptions{}},
			{"pages of 3", store.ListOptions{MaxKeys: 3}},
			{"prefix", store.ListOptions{Prefix: "dir/", MaxKeys: 2}},
			{"delimiter", store.ListOptions{Delimiter: "/", MaxKeys: 4}},
			{"prefix and delimiter", store.ListOptions{Prefix: "dir/", Delimiter: "/"}},
			{"start after", store.ListOptions{StartAfter: "dir/sub/x", MaxKeys: 5}},
		} {
			if prefix == "scoped" && c.o.Prefix != "" {
				c.o.Prefix = "pre/" + c.o.Prefix
			}
			t.Run(fmt.Sprintf("bucket prefix %q/%s", prefix, c.name), func(t *testing.T) {
				got, want := leanListing(t, b.Lister(), c.o), bucketListing(t, b, c.o)
				if len(want) == 0 {
					t.Fatalf("listing too short to compare: %q", want)
				}
				if len(got) != len(want) {
					t.Errorf("lean listing has %d entries, the bucket's %d:\nlean   %q\nbucket %q", len(got), len(want), got, want)
				}
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Errorf("entry %d:\nlean   %s\nbucket %s", i, got[i], want[i])
					}
				}
			})
		}
	}
}

// leanListing lists with the Lister, each entry as one line.
func leanListing(t *testing.T, l *store.Lister, o store.ListOptions) []string {
	t.Helper()
	var out []string
	var p store.ListPage
	token := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("listing does not end")
		}
		if err := l.List(context.Background(), token, &o, &p); err != nil {
			t.Fatal(err)
		}
		for _, x := range p.Objects {
			if x.Name != store.S3Name(x.Key) {
				t.Errorf("%q: Name %q, want %q", x.Key, x.Name, store.S3Name(x.Key))
			}
			out = append(out, objLine(x.Key, x.Size, x.MD5, x.ModTime, x.ETag))
		}
		for _, d := range p.Prefixes {
			out = append(out, "dir "+fmt.Sprintf("%q", d))
		}
		if p.Next == "" {
			return sortedMerge(out)
		}
		token = p.Next
	}
}

// bucketListing lists with the bucket's ListPage, as scan did before.
func bucketListing(t *testing.T, b *store.Bucket, o store.ListOptions) []string {
	t.Helper()
	var out []string
	size := o.MaxKeys
	if size == 0 {
		size = 1000
	}
	opts := &blob.ListOptions{Prefix: o.Prefix, Delimiter: o.Delimiter}
	if o.StartAfter != "" {
		opts.BeforeList = func(as func(any) bool) error {
			var in *s3.ListObjectsV2Input
			if as(&in) && in.ContinuationToken == nil {
				in.StartAfter = aws.String(strings.TrimSuffix(aws.ToString(in.Prefix), store.S3Name(o.Prefix)) + o.StartAfter)
			}
			return nil
		}
	}
	token := blob.FirstPageToken
	for {
		objs, next, err := b.ListPage(context.Background(), token, size, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range objs {
			if x.IsDir {
				out = append(out, "dir "+fmt.Sprintf("%q", x.Key))
				continue
			}
			var so types.Object
			etag := ""
			if x.As(&so) {
				etag = aws.ToString(so.ETag)
			}
			out = append(out, objLine(x.Key, x.Size, x.MD5, x.ModTime, etag))
		}
		if len(next) == 0 {
			return sortedMerge(out)
		}
		token = next
	}
}

func objLine(key string, size int64, md5 []byte, mod time.Time, etag string) string {
	return fmt.Sprintf("%q size %d md5 %x etag %s mod %s", key, size, md5, etag, mod.Format(time.RFC3339Nano)+" "+mod.Location().String())
}

// sortedMerge orders the lines by key as gocloud does when a page has both
// objects and prefixes (it sorts them together); lines start with the
// quoted key, or "dir " and the quoted prefix.
func sortedMerge(lines []string) []string {
	key := func(l string) string { return strings.TrimPrefix(l, "dir ") }
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && key(lines[j]) < key(lines[j-1]); j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	return lines
}

// Keys with bytes XML 1.0 cannot carry, put by another client without
// gocloud's escaping, arrive intact (the lean listing asks for url-encoded
// names; the SDK's XML path turns "\r" into "\n" and drops the others).
func TestListerControlCharacterKeys(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	name := s.NewBucket(t)
	keys := []string{"cr\rkey", "crlf\r\nkey", "x\x01y", "del\x7fkey", "plus+ and space"}
	for _, k := range keys {
		if _, err := s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	b, err := store.Open(ctx, s.URL(name, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var p store.ListPage
	if err := b.Lister().List(ctx, "", &store.ListOptions{}, &p); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, o := range p.Objects {
		got[o.Key] = o.Size
	}
	for _, k := range keys {
		if got[k] != int64(len(k)) {
			t.Errorf("key %q not listed intact (listed %v)", k, got)
		}
	}
	if len(p.Objects) != len(keys) {
		t.Errorf("listed %d keys, want %d", len(p.Objects), len(keys))
	}
}

func TestListerErrors(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	missing, err := store.OpenWith(ctx, s.URL("no-such-bucket-ferry", ""), store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer missing.Close()
	var p store.ListPage
	err = missing.Lister().List(ctx, "", &store.ListOptions{}, &p)
	if !store.IsNotFound(err) || !strings.Contains(store.Explain(err), "bucket not found") {
		t.Errorf("missing bucket: %v / %s", err, store.Explain(err))
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	bad, err := store.OpenWith(ctx, s.URL(s.NewBucket(t), ""), store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.Lister().List(ctx, "", &store.ListOptions{}, &p)
	if !store.IsPermission(err) || !strings.Contains(store.Explain(err), "SignatureDoesNotMatch") {
		t.Errorf("bad credentials: %v / %s", err, store.Explain(err))
	}
}

func TestListerOnlyForS3WithEndpoint(t *testing.T) {
	ctx := context.Background()
	for u, want := range map[string]bool{
		"mem://": false, "s3://bucket?region=us-east-1": false,
		"s3://bucket?endpoint=http://127.0.0.1:1&direct_list=false":                  false,
		"s3://bucket?endpoint=http://127.0.0.1:1&direct_put=false":                   true,
		"s3://bucket/pre?endpoint=http://127.0.0.1:1":                                true,
		"s3://bucket?endpoint=http://127.0.0.1:1&direct_list=false&direct_put=false": false,
	} {
		b, err := store.OpenWith(ctx, u, store.Options{SkipCheck: true})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if got := b.Lister() != nil; got != want {
			t.Errorf("%s: Lister() != nil is %v, want %v", u, got, want)
		}
		b.Close()
	}
	if _, err := store.OpenWith(ctx, "s3://bucket?endpoint=http://127.0.0.1:1&direct_list=maybe", store.Options{SkipCheck: true}); err == nil || !strings.Contains(err.Error(), `direct_list="maybe"`) {
		t.Errorf("bad direct_list: %v", err)
	}
}

package serve

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// xmlNode is an XML element as a tree, for comparing two answers.
type xmlNode struct {
	name     string
	text     string
	children []*xmlNode
}

func parseXML(t *testing.T, body string) *xmlNode {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(body))
	root := &xmlNode{}
	stack := []*xmlNode{root}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("XML: %v\n%s", err, body)
		}
		top := stack[len(stack)-1]
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: tk.Name.Space + " " + tk.Name.Local}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text += strings.TrimSpace(string(tk))
		}
	}
	return root
}

// render writes the tree one element a line; values of elements in
// ignore are left out (tokens and owners differ between servers).
func (n *xmlNode) render(b *bytes.Buffer, depth int, ignore map[string]bool) {
	local := n.name[strings.LastIndexByte(n.name, ' ')+1:]
	if depth > 0 {
		fmt.Fprintf(b, "%s<%s>", strings.Repeat("  ", depth-1), n.name)
		if !ignore[local] {
			b.WriteString(n.text)
		}
		b.WriteByte('\n')
	}
	for _, c := range n.children {
		c.render(b, depth+1, ignore)
	}
}

// anonymousRead makes a MinIO bucket readable and listable without
// credentials.
func anonymousRead(t *testing.T, s *miniotest.Server, bucket string) {
	t.Helper()
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},
		"Action":["s3:GetObject","s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"]}]}`, bucket)
	if _, err := s.Client().PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
}

func putMinIO(t *testing.T, s *miniotest.Server, bucket string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := s.Client().PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader("data of " + k),
		}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
}

// serveBucket serves a MinIO bucket in path addressing under its own name,
// with the rules set.
func serveBucket(t *testing.T, s *miniotest.Server, bucket string, set *rules.Set) *httptest.Server {
	t.Helper()
	target, err := store.Open(context.Background(), s.URL(bucket, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	m, err := mirror.New(mirror.Options{Target: target, SpoolDir: t.TempDir(), Via: DefaultVia, IdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv, err := New(Options{Target: target, Mirror: m, Settings: Settings{Addressing: AddressingPath, Bucket: bucket, Rules: set}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// serve's listings of a bucket are MinIO's own, element for element and
// value for value (continuation tokens and owners aside), for both API
// versions, delimiters, prefixes, paging and encoding-type=url.
func TestListMatchesMinIO(t *testing.T) {
	s := miniotest.Get(t)
	bucket := s.NewBucket(t)
	anonymousRead(t, s, bucket)
	putMinIO(t, s, bucket, "a/b", "a.b", "a b", "a+c~", "x/y/z", "x/y/w", "d/", "é/ü", "k=1&v")
	ts := serveBucket(t, s, bucket, nil)
	ignore := map[string]bool{"NextContinuationToken": true, "ContinuationToken": true, "NextMarker": true, "ID": true, "DisplayName": true}
	for _, q := range []string{
		"list-type=2",
		"list-type=2&delimiter=/",
		"list-type=2&prefix=x/&delimiter=/",
		"list-type=2&prefix=x/y/",
		"list-type=2&encoding-type=url",
		"list-type=2&encoding-type=url&delimiter=/&prefix=a",
		"list-type=2&max-keys=2",
		"list-type=2&max-keys=2&delimiter=/",
		"list-type=2&start-after=a.b",
		"list-type=2&fetch-owner=true&max-keys=3",
		"list-type=2&max-keys=0",
		"list-type=2&prefix=nothing",
		"",
		"delimiter=/",
		"prefix=x/&marker=x/y/w",
		"encoding-type=url",
		"max-keys=3&delimiter=/",
	} {
		want := doURL(t, "GET", s.Endpoint+"/"+bucket+"?"+q)
		got := doURL(t, "GET", ts.URL+"/"+bucket+"?"+q)
		if want.status != 200 || got.status != 200 {
			t.Fatalf("%s: MinIO %d, serve %d\n%s\n%s", q, want.status, got.status, want.body, got.body)
		}
		var wb, gb bytes.Buffer
		parseXML(t, want.body).render(&wb, 0, ignore)
		parseXML(t, got.body).render(&gb, 0, ignore)
		if wb.String() != gb.String() {
			t.Errorf("%s: serve's listing differs from MinIO's\nMinIO:\n%s\nserve:\n%s", q, wb.String(), gb.String())
		}
	}
}

// With a second MinIO bucket as the origin, serve lists its keys before they
// are filled (MinIO does not list in byte order: "p/q" comes before "p q"
// and "p.q"); rclone, which lists the parent before it reads, sees and
// reads a key that is only at the origin.
func TestListMinIOOrigin(t *testing.T) {
	s := miniotest.Get(t)
	tb, ob := s.NewBucket(t), s.NewBucket(t)
	putMinIO(t, s, ob, "dir/only-origin.txt", "dir/both.txt", "p/q", "p q", "p.q", "skip.tmp")
	putMinIO(t, s, tb, "dir/both.txt", "dir/only-target.txt", "p.q")
	// skip.tmp is taken by the first rule (an HTTP origin), so the bucket
	// rule would not fill it: it is not listed.
	set := &rules.Set{Rules: []rules.Rule{
		{Origin: "http://127.0.0.1:1/", KeySuffix: ".tmp", FollowRedirects: true},
		bucketRule(s.URL(ob, ""), rules.Rule{}),
	}}
	ts := serveBucket(t, s, tb, set)
	e := &env{t: t, ts: ts}
	want := []string{"dir/both.txt", "dir/only-origin.txt", "dir/only-target.txt", "p q", "p.q", "p/q"}
	for _, v2 := range []bool{true, false} {
		for _, n := range []int{1, 2, 1000} {
			got := listAllBucket(t, e, tb, v2, n)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("v2=%v max-keys=%d: %v, want %v (each once)", v2, n, got, want)
			}
		}
	}

	bin, err := exec.LookPath("rclone")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rclone is required in CI")
		}
		t.Skip("rclone not installed")
	}
	rclone := rcloneFor(t, bin, ts.URL)
	if out := rclone("lsf", "-R", "ferry:"+tb+"/dir"); out != "both.txt\nonly-origin.txt\nonly-target.txt\n" {
		t.Errorf("rclone lsf: %q", out)
	}
	if out := rclone("cat", "ferry:"+tb+"/dir/only-origin.txt"); out != "data of dir/only-origin.txt" {
		t.Errorf("rclone cat of a key not filled yet: %q", out)
	}
}

// listAllBucket is listAll for a bucket named other than testBucket.
func listAllBucket(t *testing.T, e *env, bucket string, v2 bool, maxKeys int) []string {
	t.Helper()
	var keys []string
	token := ""
	for page := 0; page < 50; page++ {
		q := url.Values{"max-keys": {fmt.Sprint(maxKeys)}}
		if v2 {
			q.Set("list-type", "2")
			if token != "" {
				q.Set("continuation-token", token)
			}
		} else if token != "" {
			q.Set("marker", token)
		}
		r := doURL(t, http.MethodGet, e.ts.URL+"/"+bucket+"?"+q.Encode())
		var res struct {
			IsTruncated           bool
			NextContinuationToken string
			NextMarker            string
			Contents              []struct{ Key string }
		}
		if err := xml.Unmarshal([]byte(r.body), &res); err != nil || r.status != 200 {
			t.Fatalf("list: %d %v\n%s", r.status, err, r.body)
		}
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		if !res.IsTruncated {
			return keys
		}
		token = res.NextContinuationToken + res.NextMarker
	}
	t.Fatal("listing did not end")
	return nil
}

// rcloneFor runs rclone with an anonymous S3 remote "ferry:" on endpoint.
func rcloneFor(t *testing.T, bin, endpoint string) func(args ...string) string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RCLONE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_FERRY_TYPE=s3", "RCLONE_CONFIG_FERRY_PROVIDER=Other",
		"RCLONE_CONFIG_FERRY_ENDPOINT="+endpoint, "RCLONE_CONFIG_FERRY_REGION=us-east-1",
		"RCLONE_CONFIG_FERRY_FORCE_PATH_STYLE=true", "RCLONE_CONFIG_FERRY_ENV_AUTH=false")
	return func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("rclone %v: %v\n%s", args, err, stderr.String())
		}
		return stdout.String()
	}
}

package serve

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// surface is one bucket of a real MinIO, readable anonymously, and serve in
// path addressing in front of it under the same bucket name, so the same
// request can be sent to both.
type surface struct {
	t      *testing.T
	minio  string // http://host:port of MinIO
	serve  string // http://host:port of serve
	bucket string
	target *store.Bucket
}

func newSurface(t *testing.T, set *rules.Set) *surface {
	t.Helper()
	s := miniotest.Get(t)
	name := s.NewBucket(t)
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]},
		{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::%s"]}]}`, name, name)
	if _, err := s.Client().PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(name), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	target, err := store.Open(context.Background(), s.URL(name, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	e := newEnvIn(t, target, AddressingPath, name, set)
	return &surface{t: t, minio: s.Endpoint, serve: e.ts.URL, bucket: name, target: target}
}

// answer is what a response says that S3 clients look at.
type answer struct {
	Status  int
	Code    string // S3 error code of a GET's error body
	Body    string // of 200 and 206
	Headers map[string]string
}

// compared are the headers an S3 client reads, besides x-amz-meta-*.
var compared = []string{"Content-Type", "Content-Length", "Content-Range", "ETag", "Last-Modified", "Cache-Control",
	"Content-Disposition", "Content-Encoding", "Content-Language", "Expires", "Accept-Ranges", "X-Amz-Mp-Parts-Count"}

// ask sends one request to base and returns its answer.
func (s *surface) ask(base, method, pathAndQuery string, hdr ...string) answer {
	s.t.Helper()
	r := doURL(s.t, method, base+pathAndQuery, hdr...)
	a := answer{Status: r.status, Headers: map[string]string{}}
	for _, k := range compared {
		if v := r.header.Get(k); v != "" {
			a.Headers[k] = v
		}
	}
	for k, v := range r.header {
		if strings.HasPrefix(k, "X-Amz-Meta-") {
			a.Headers[k] = strings.Join(v, ",")
		}
	}
	if r.status == 200 || r.status == 206 {
		a.Body = r.body
	} else if r.status != 304 {
		a.Headers = nil // an error: status and code are compared
	}
	if method == "GET" && r.status >= 400 {
		var x struct{ Code, RequestId string }
		if err := xml.Unmarshal([]byte(r.body), &x); err != nil {
			s.t.Errorf("%s %s: status %d without an XML error: %q", method, pathAndQuery, r.status, r.body)
		}
		a.Code = x.Code
		if base == s.serve && x.RequestId != r.header.Get("X-Amz-Request-Id") {
			s.t.Errorf("%s %s: RequestId %q, header %q", method, pathAndQuery, x.RequestId, r.header.Get("X-Amz-Request-Id"))
		}
	}
	if base == s.serve && r.header.Get("X-Amz-Request-Id") == "" {
		s.t.Errorf("%s %s: no X-Amz-Request-Id", method, pathAndQuery)
	}
	return a
}

// same sends the request to MinIO and to serve and fails when the answers
// differ.
func (s *surface) same(method, key, query string, hdr ...string) answer {
	s.t.Helper()
	p := "/" + s.bucket + "/" + (&url.URL{Path: key}).EscapedPath()
	if query != "" {
		p += "?" + query
	}
	want := s.ask(s.minio, method, p, hdr...)
	got := s.ask(s.serve, method, p, hdr...)
	if e, ok := want.Headers["X-Amz-Meta-Expires"]; ok && want.Headers["Expires"] == "" && got.Headers["Expires"] == urlUnescape(e) {
		// The one known difference: a fill stores the origin's Expires
		// as user metadata (gocloud has no field for it), which serve
		// sends as Expires and MinIO only as x-amz-meta-expires.
		delete(got.Headers, "Expires")
	}
	if d := diff(want, got); d != "" {
		s.t.Errorf("%s %s %v: serve differs from MinIO:\n%s", method, p, hdr, d)
	}
	return got
}

func diff(want, got answer) string {
	var out []string
	if want.Status != got.Status {
		out = append(out, fmt.Sprintf("status: MinIO %d, serve %d", want.Status, got.Status))
	}
	if want.Code != got.Code {
		out = append(out, fmt.Sprintf("code: MinIO %q, serve %q", want.Code, got.Code))
	}
	if want.Body != got.Body {
		out = append(out, fmt.Sprintf("body: MinIO %q, serve %q", want.Body, got.Body))
	}
	keys := map[string]bool{}
	for k := range want.Headers {
		keys[k] = true
	}
	for k := range got.Headers {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if want.Headers[k] != got.Headers[k] {
			out = append(out, fmt.Sprintf("%s: MinIO %q, serve %q", k, want.Headers[k], got.Headers[k]))
		}
	}
	return strings.Join(out, "\n")
}

func (s *surface) put(key, body string, o *blob.WriterOptions) {
	s.t.Helper()
	if err := s.target.WriteAll(context.Background(), key, []byte(body), o); err != nil {
		s.t.Fatal(err)
	}
}

// TestS3SurfaceMatchesMinIO: what S3 clients see on GET and HEAD through
// serve is what MinIO itself answers for the same object: headers, user
// metadata, response-* overrides, HEAD with a Range, odd keys, errors.
func TestS3SurfaceMatchesMinIO(t *testing.T) {
	leakCheck(t)
	s := newSurface(t, nil)
	s.put("obj.txt", hundred, &blob.WriterOptions{
		ContentType: "text/plain; charset=utf-8", CacheControl: "max-age=60", ContentEncoding: "br",
		ContentDisposition: `attachment; filename="obj.txt"`, ContentLanguage: "en",
		Metadata: map[string]string{"color": "blue", "note": "a b", "Mixed-Case": "Grüße 100%"},
	})
	for _, k := range []string{"a/", "_", "a b", "a+b", "dir/x y+z", "~!$&'()*,;=:@"} {
		s.put(k, "body of "+k, nil)
	}
	s.put("empty", "", nil)

	g := s.same("GET", "obj.txt", "")
	if g.Headers["X-Amz-Meta-Color"] != "blue" || g.Headers["X-Amz-Meta-Note"] != "a%20b" {
		t.Errorf("user metadata: %v", g.Headers)
	}
	s.same("HEAD", "obj.txt", "")

	overrides := url.Values{
		"response-content-type": {"application/x-test"}, "response-content-language": {"fr"},
		"response-expires": {"Thu, 01 Jan 2037 00:00:00 GMT"}, "response-cache-control": {"no-cache"},
		"response-content-disposition": {`inline; filename="x.txt"`}, "response-content-encoding": {"zz"},
	}.Encode()
	if g := s.same("GET", "obj.txt", overrides); g.Headers["Content-Type"] != "application/x-test" || g.Headers["Expires"] == "" {
		t.Errorf("overrides not applied: %v", g.Headers)
	}
	s.same("GET", "obj.txt", overrides, "Range", "bytes=0-9")
	s.same("HEAD", "obj.txt", overrides)
	s.same("GET", "obj.txt", "response-content-type=")

	// (MinIO refuses "bytes=5-2" with 416; serve ignores it, as RFC 9110
	// allows and as it ignores every range it cannot parse.)
	for _, rg := range []string{"bytes=0-9", "bytes=-5", "bytes=90-", "bytes=x-y", "bytes=0-1,3-4", "items=0-1", "bytes=0-0", "bytes=100-"} {
		if g := s.same("HEAD", "obj.txt", "", "Range", rg); rg == "bytes=0-9" && (g.Status != 206 || g.Headers["Content-Range"] != "bytes 0-9/100") {
			t.Errorf("HEAD %s: %+v", rg, g)
		}
		s.same("GET", "obj.txt", "", "Range", rg)
	}
	s.same("GET", "obj.txt", "", "If-None-Match", g.Headers["ETag"])
	s.same("GET", "obj.txt", "", "If-Match", `"bogus"`)
	s.same("HEAD", "obj.txt", "", "If-Match", `"bogus"`)

	// Keys S3 clients use, on hits and misses.
	for _, k := range []string{"a/", "_", "a b", "a+b", "dir/x y+z", "~!$&'()*,;=:@", "empty"} {
		s.same("GET", k, "")
		s.same("HEAD", k, "")
	}
	for _, k := range []string{"b/", "__", "b c", "b+c", "dir/", "dir/x y", "a//b", "a/b/"} {
		s.same("GET", k, "")
		s.same("HEAD", k, "")
	}
}

func urlUnescape(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// A target bucket that is gone answers NoSuchBucket (404), as MinIO does.
func TestTargetBucketGone(t *testing.T) {
	leakCheck(t)
	s := newSurface(t, nil)
	s.put("k", "v", nil)
	if err := s.target.Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	mc := miniotest.Get(t).Client()
	if _, err := mc.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		t.Fatal(err)
	}
	r := doURL(t, "GET", s.serve+"/"+s.bucket+"/k")
	if r.status != 404 || s3Code(t, r.body) != "NoSuchBucket" || !strings.Contains(r.body, "<BucketName>"+s.bucket+"</BucketName>") {
		t.Errorf("GET in a deleted target bucket: %d %s", r.status, r.body)
	}
	// MinIO itself, asked with credentials (anonymous reads lose the
	// bucket's policy with the bucket: 403).
	_, err := mc.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("k")})
	if store.ErrorCode(err) != "NoSuchBucket" {
		t.Errorf("MinIO itself: %v", err)
	}
	if r := doURL(t, "HEAD", s.serve+"/"+s.bucket+"/k"); r.status != 404 {
		t.Errorf("HEAD in a deleted target bucket: %d", r.status)
	}
}

// A fill returns the user metadata it stores, and the hit afterwards (and
// MinIO itself) the same: for a bucket origin its objects' metadata, for
// an HTTP origin its x-amz-meta-* headers.
func TestFillUserMetadata(t *testing.T) {
	leakCheck(t)
	ms := miniotest.Get(t)
	originName := ms.NewBucket(t)
	origin, err := store.Open(context.Background(), ms.URL(originName, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	if err := origin.WriteAll(context.Background(), "b/obj", []byte(hundred), &blob.WriterOptions{
		ContentType: "text/plain", Metadata: map[string]string{"owner": "team a", "rev": "7"},
	}); err != nil {
		t.Fatal(err)
	}
	httpOrigin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Meta-Owner", "web")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, hundred)
	}))
	defer httpOrigin.Close()
	set := &rules.Set{Rules: []rules.Rule{
		{KeyPrefix: "b/", Origin: ms.URL(originName, ""), FollowRedirects: true, MirrorHead: true},
		{KeyPrefix: "h/", Origin: httpOrigin.URL + "/", FollowRedirects: true, MirrorHead: true},
	}}
	s := newSurface(t, set)
	for key, want := range map[string]map[string]string{
		"b/obj": {"X-Amz-Meta-Owner": "team%20a", "X-Amz-Meta-Rev": "7"},
		"h/obj": {"X-Amz-Meta-Owner": "web"},
	} {
		p := "/" + s.bucket + "/" + key
		fill := s.ask(s.serve, "GET", p)
		if fill.Status != 200 || fill.Body != hundred {
			t.Fatalf("fill %s: %+v", key, fill)
		}
		for k, v := range want {
			if fill.Headers[k] != v {
				t.Errorf("fill %s: %s = %q, want %q (%v)", key, k, fill.Headers[k], v, fill.Headers)
			}
		}
		waitStored(t, s.target, key)
		hit := s.same("GET", key, "")
		for k, v := range fill.Headers {
			if strings.HasPrefix(k, "X-Amz-Meta-") && hit.Headers[k] != v {
				t.Errorf("%s: the fill sent %s %q, the hit %q", key, k, v, hit.Headers[k])
			}
		}
		if len(hit.Headers) == 0 || hit.Headers["X-Amz-Meta-Origin-Etag"] == "" && key == "b/obj" {
			t.Errorf("%s: hit headers %v", key, hit.Headers)
		}
	}
}

// Keys S3 clients use, missing from the target with a rule: a fill, then
// hits that answer as MinIO does; a key MinIO refuses is refused with
// MinIO's status and code before anything is fetched.
func TestOddKeysFillAsMinIO(t *testing.T) {
	leakCheck(t)
	o := newTestOrigin(t)
	keys := []string{"n o", "n+o", "__", "_", "d/n o+p", "~!$&'()*,;=:@"}
	for _, k := range keys {
		o.set(k, "origin body of "+k)
	}
	s := newSurface(t, originRules(o.URL))
	for _, k := range keys {
		p := "/" + s.bucket + "/" + (&url.URL{Path: k}).EscapedPath()
		if a := s.ask(s.serve, "GET", p); a.Status != 200 || a.Body != "origin body of "+k {
			t.Fatalf("fill %q: %+v", k, a)
		}
		waitStored(t, s.target, k)
		s.same("GET", k, "")
		s.same("HEAD", k, "")
		s.same("GET", k, "", "Range", "bytes=2-5")
	}
	// Directory markers the target lacks: NoSuchKey, as MinIO answers
	// (an HTTP origin has no object for them).
	for _, k := range []string{"m/", "d/m/"} {
		s.same("GET", k, "")
		s.same("HEAD", k, "")
	}
	before := o.count.Load()
	for _, k := range []string{"a//b", "x//"} {
		for _, m := range []string{"GET", "HEAD"} {
			a := s.same(m, k, "")
			if a.Status < 400 {
				t.Errorf("%s %q: %+v, want MinIO's refusal", m, k, a)
			}
			t.Logf("%s %q: %d %s, as MinIO", m, k, a.Status, a.Code)
		}
	}
	if n := o.count.Load() - before; n != 0 {
		t.Errorf("%d origin requests for keys the target refuses", n)
	}
}

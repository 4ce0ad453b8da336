package serve

import (
	"bufio"
	"context"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/azuritetest"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"go.uber.org/goleak"
	"gocloud.dev/blob"
)

func TestMain(m *testing.M) {
	code := miniotest.Run(m)
	azuritetest.Stop()
	os.Exit(code)
}

const testBucket = "site"

// env is one serve instance over one target with a real mirror, behind
// httptest.
type env struct {
	t      *testing.T
	target *store.Bucket
	srv    *Server
	m      *mirror.Mirror
	ts     *httptest.Server
	mode   string
}

func fileTarget(t *testing.T) (*store.Bucket, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

func minioTarget(t *testing.T) *store.Bucket {
	t.Helper()
	s := miniotest.Get(t)
	b, err := store.Open(context.Background(), s.BucketURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newEnv serves target in mode with the rules set through a real mirror.
func newEnv(t *testing.T, target *store.Bucket, mode string, set *rules.Set) *env {
	t.Helper()
	return newEnvIn(t, target, mode, testBucket, set)
}

// newEnvIn is newEnv with the bucket name of path addressing.
func newEnvIn(t *testing.T, target *store.Bucket, mode, bucket string, set *rules.Set) *env {
	t.Helper()
	m, err := mirror.New(mirror.Options{Target: target, SpoolDir: t.TempDir(), Via: DefaultVia, IdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	srv, err := New(Options{
		Target:   target,
		Mirror:   m,
		Settings: Settings{Addressing: mode, Bucket: bucket, Rules: set},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, target: target, srv: srv, m: m, mode: mode, ts: httptest.NewServer(srv.Handler())}
	t.Cleanup(e.ts.Close)
	return e
}

func (e *env) url(key string) string {
	p := "/" + key
	if e.mode == AddressingPath {
		p = "/" + testBucket + "/" + key
	}
	return e.ts.URL + (&url.URL{Path: p}).EscapedPath()
}

func (e *env) put(key, data string, o *blob.WriterOptions) {
	e.t.Helper()
	if err := e.target.WriteAll(context.Background(), key, []byte(data), o); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(method, key string, hdr ...string) result {
	e.t.Helper()
	return doURL(e.t, method, e.url(key), hdr...)
}

func doURL(t *testing.T, method, u string, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, u, err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

func s3Code(t *testing.T, body string) string {
	t.Helper()
	var x struct {
		Code      string
		RequestId string
	}
	if err := xml.Unmarshal([]byte(body), &x); err != nil {
		t.Fatalf("not an S3 XML error: %v\n%s", err, body)
	}
	if x.RequestId == "" {
		t.Errorf("error without RequestId: %s", body)
	}
	return x.Code
}

const hundred = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzAB"

// conformance is a Go port of the S3 GET/HEAD conformance cases (as in
// ceph/s3-tests: test_object_head_zero_bytes, test_get_object_if*match*,
// test_get_object_if*modified_since*, test_ranged_request_*).
func conformance(t *testing.T, e *env) {
	past := time.Now().Add(-48 * time.Hour).UTC().Format(http.TimeFormat)
	future := time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat)
	e.put("dir/obj.txt", hundred, &blob.WriterOptions{
		ContentType: "text/plain; charset=utf-8", CacheControl: "max-age=60",
		ContentDisposition: `attachment; filename="obj.txt"`, ContentLanguage: "en",
		Metadata: map[string]string{"expires": "Thu, 01 Jan 2037 00:00:00 GMT"},
	})
	e.put("empty", "", nil)
	e.put("with space+plus%é", "odd", nil)

	full := e.do("GET", "dir/obj.txt")
	if full.status != 200 || full.body != hundred {
		t.Fatalf("GET: %d %q", full.status, full.body)
	}
	etag := full.header.Get("ETag")
	for k, want := range map[string]string{
		"Content-Length": "100", "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "max-age=60",
		"Content-Disposition": `attachment; filename="obj.txt"`, "Content-Language": "en",
		"Expires": "Thu, 01 Jan 2037 00:00:00 GMT", "X-Ferry-Mirror": "hit", "Accept-Ranges": "bytes",
	} {
		if got := full.header.Get(k); got != want {
			t.Errorf("GET %s = %q, want %q", k, got, want)
		}
	}
	if etag == "" || full.header.Get("Last-Modified") == "" || full.header.Get("X-Amz-Request-Id") == "" {
		t.Errorf("missing ETag/Last-Modified/X-Amz-Request-Id: %v", full.header)
	}

	cases := []struct {
		name   string
		method string
		key    string
		hdr    []string
		status int
		body   string // checked for 200/206
		code   string // S3 error code, checked for errors with a body
		crange string // Content-Range
	}{
		{"NoSuchKey", "GET", "missing", nil, 404, "", "NoSuchKey", ""},
		{"HEAD NoSuchKey", "HEAD", "missing", nil, 404, "", "", ""},
		{"HEAD", "HEAD", "dir/obj.txt", nil, 200, "", "", ""},
		{"HEAD zero bytes", "HEAD", "empty", nil, 200, "", "", ""},
		{"GET zero bytes", "GET", "empty", nil, 200, "", "", ""},
		{"odd key", "GET", "with space+plus%é", nil, 200, "odd", "", ""},
		{"If-Match good", "GET", "dir/obj.txt", []string{"If-Match", etag}, 200, hundred, "", ""},
		{"If-Match star", "GET", "dir/obj.txt", []string{"If-Match", "*"}, 200, hundred, "", ""},
		{"If-Match failed", "GET", "dir/obj.txt", []string{"If-Match", `"bogus"`}, 412, "", "PreconditionFailed", ""},
		{"HEAD If-Match failed", "HEAD", "dir/obj.txt", []string{"If-Match", `"bogus"`}, 412, "", "", ""},
		{"If-None-Match good", "GET", "dir/obj.txt", []string{"If-None-Match", etag}, 304, "", "", ""},
		{"If-None-Match failed", "GET", "dir/obj.txt", []string{"If-None-Match", `"bogus"`}, 200, hundred, "", ""},
		{"If-Modified-Since past", "GET", "dir/obj.txt", []string{"If-Modified-Since", past}, 200, hundred, "", ""},
		{"If-Modified-Since future", "GET", "dir/obj.txt", []string{"If-Modified-Since", future}, 304, "", "", ""},
		{"If-Unmodified-Since past", "GET", "dir/obj.txt", []string{"If-Unmodified-Since", past}, 412, "", "PreconditionFailed", ""},
		{"If-Unmodified-Since future", "GET", "dir/obj.txt", []string{"If-Unmodified-Since", future}, 200, hundred, "", ""},
		{"If-Match good + If-Unmodified-Since past", "GET", "dir/obj.txt", []string{"If-Match", etag, "If-Unmodified-Since", past}, 200, hundred, "", ""},
		{"If-None-Match good + If-Modified-Since past", "GET", "dir/obj.txt", []string{"If-None-Match", etag, "If-Modified-Since", past}, 304, "", "", ""},
		{"range first", "GET", "dir/obj.txt", []string{"Range", "bytes=0-9"}, 206, hundred[:10], "", "bytes 0-9/100"},
		{"range middle", "GET", "dir/obj.txt", []string{"Range", "bytes=10-19"}, 206, hundred[10:20], "", "bytes 10-19/100"},
		{"range suffix", "GET", "dir/obj.txt", []string{"Range", "bytes=-7"}, 206, hundred[93:], "", "bytes 93-99/100"},
		{"range suffix larger than object", "GET", "dir/obj.txt", []string{"Range", "bytes=-500"}, 206, hundred, "", "bytes 0-99/100"},
		{"range open-ended", "GET", "dir/obj.txt", []string{"Range", "bytes=95-"}, 206, hundred[95:], "", "bytes 95-99/100"},
		{"range end past size", "GET", "dir/obj.txt", []string{"Range", "bytes=90-1000"}, 206, hundred[90:], "", "bytes 90-99/100"},
		{"range out of range", "GET", "dir/obj.txt", []string{"Range", "bytes=100-"}, 416, "", "InvalidRange", "bytes */100"},
		{"range empty object", "GET", "empty", []string{"Range", "bytes=0-0"}, 416, "", "InvalidRange", "bytes */0"},
		{"range malformed ignored", "GET", "dir/obj.txt", []string{"Range", "bytes=x-y"}, 200, hundred, "", ""},
		{"HEAD range", "HEAD", "dir/obj.txt", []string{"Range", "bytes=0-9"}, 206, "", "", "bytes 0-9/100"},
		{"If-Range good", "GET", "dir/obj.txt", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, hundred[:10], "", "bytes 0-9/100"},
		{"If-Range stale", "GET", "dir/obj.txt", []string{"Range", "bytes=0-9", "If-Range", `"old"`}, 200, hundred, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.key, c.hdr...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d (body %s)", r.status, c.status, r.body)
			}
			if c.method == "HEAD" && r.body != "" {
				t.Errorf("HEAD with a body: %q", r.body)
			}
			if (c.status == 200 || c.status == 206) && c.method == "GET" && r.body != c.body {
				t.Errorf("body %q, want %q", r.body, c.body)
			}
			if c.code != "" {
				if got := s3Code(t, r.body); got != c.code {
					t.Errorf("code %s, want %s", got, c.code)
				}
			}
			if c.crange != "" && r.header.Get("Content-Range") != c.crange {
				t.Errorf("Content-Range %q, want %q", r.header.Get("Content-Range"), c.crange)
			}
			if c.status == 304 && r.header.Get("ETag") != etag {
				t.Errorf("304 without the ETag: %v", r.header)
			}
			if c.key == "empty" && c.status == 200 && r.header.Get("Content-Length") != "0" {
				t.Errorf("Content-Length %q, want 0", r.header.Get("Content-Length"))
			}
		})
	}
}

func TestConformanceFile(t *testing.T) {
	leakCheck(t)
	for _, mode := range []string{AddressingDomain, AddressingPath} {
		t.Run(mode, func(t *testing.T) {
			b, _ := fileTarget(t)
			conformance(t, newEnv(t, b, mode, nil))
		})
		t.Run(mode+"/no-sendfile", func(t *testing.T) {
			// The same directory without its store fast path: the bucket's own.
			b, _ := fileTarget(t)
			conformance(t, newEnv(t, store.Wrap(b.Bucket), mode, nil))
		})
	}
}

func TestConformanceMinIO(t *testing.T) {
	for _, mode := range []string{AddressingDomain, AddressingPath} {
		t.Run(mode, func(t *testing.T) {
			conformance(t, newEnv(t, minioTarget(t), mode, nil))
		})
	}
}

// leakCheck fails t when goroutines started during the test outlive its
// cleanups (registered first, so it runs last).
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		// Idle keep-alive connections of the S3 client of a MinIO target
		// (store's transport, and the reaper of fasthttp's idle connections,
		// which ends by itself once they are gone) outlive bucket.Close;
		// serve starts none.
		goleak.VerifyNone(t, opt, goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"))
	})
}

// rawRequest sends bytes on a fresh connection and returns the response.
func rawRequest(t *testing.T, ts *httptest.Server, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

// TestAdversarial: refused requests get the right status, never reach the
// origin, and leave the target untouched.
func TestAdversarial(t *testing.T) {
	leakCheck(t)
	b, _ := fileTarget(t)
	o := newTestOrigin(t)
	e := newEnv(t, b, AddressingDomain, originRules(o.URL))
	seg := strings.Repeat("a", 99) + "/"
	long := strings.Repeat(seg, 10) + strings.Repeat("b", store.MaxKeyBytes+1-10*len(seg))
	cases := []struct {
		name, raw string
		status    int
		code      string
	}{
		{"PUT", "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", 405, "MethodNotAllowed"},
		{"DELETE", "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", 405, "MethodNotAllowed"},
		{"POST", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 405, "MethodNotAllowed"},
		{"CONNECT", "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 405, "MethodNotAllowed"},
		{"absolute-form", "GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400, "InvalidRequest"},
		{"dotdot", "GET /a/../x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "InvalidArgument"},
		{"dot", "GET /a/./x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "InvalidArgument"},
		{"encoded dotdot", "GET /a/%2e%2e/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "InvalidArgument"},
		{"leading dotdot", "GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", 400, "InvalidArgument"},
		{"control char", "GET /a%01b HTTP/1.1\r\nHost: h\r\n\r\n", 400, "InvalidArgument"},
		{"DEL char", "GET /a%7fb HTTP/1.1\r\nHost: h\r\n\r\n", 400, "InvalidArgument"},
		{"newline", "GET /a%0d%0aSet-Cookie:x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "InvalidArgument"},
		{"invalid utf-8", "GET /a%ff HTTP/1.1\r\nHost: h\r\n\r\n", 400, "InvalidArgument"},
		{"too long", "GET /" + long + " HTTP/1.1\r\nHost: h\r\n\r\n", 400, "KeyTooLongError"},
		{"via loop", "GET /x HTTP/1.1\r\nHost: h\r\nVia: 1.1 proxy, 1.1 ferry\r\n\r\n", 508, "LoopDetected"},
		{"segment over 255 bytes on a file target", "GET /" + strings.Repeat("s", 300) + " HTTP/1.1\r\nHost: h\r\n\r\n", 400, "KeyTooLongError"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := rawRequest(t, e.ts, c.raw)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			body, _ := io.ReadAll(resp.Body)
			if got := s3Code(t, string(body)); got != c.code {
				t.Errorf("code %s, want %s", got, c.code)
			}
			if c.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
	if n := o.count.Load(); n != 0 {
		t.Errorf("%d origin requests for refused requests, want 0", n)
	}
	if ok, _ := b.Exists(context.Background(), "x"); ok {
		t.Error("PUT reached the target")
	}
	// A key exactly 1024 bytes long is accepted (and fetched).
	resp := rawRequest(t, e.ts, "GET /"+long[:store.MaxKeyBytes]+" HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp.StatusCode != 404 || o.count.Load() != 1 {
		t.Errorf("1024-byte key: status %d, %d origin calls", resp.StatusCode, o.count.Load())
	}
}

func TestPathAddressingBucket(t *testing.T) {
	b, _ := fileTarget(t)
	e := newEnv(t, b, AddressingPath, nil)
	e.put("k", "v", nil)
	if r := doURL(t, "GET", e.ts.URL+"/other/k"); r.status != 404 || s3Code(t, r.body) != "NoSuchBucket" {
		t.Errorf("wrong bucket: %d %s", r.status, r.body)
	}
	if r := doURL(t, "GET", e.ts.URL+"/"+testBucket+"/k"); r.status != 200 || r.body != "v" {
		t.Errorf("GET: %d %s", r.status, r.body)
	}
	e.put("d/k2", "v", nil)
	e.put("d/k3", "v", nil)
	if r := doURL(t, "GET", e.ts.URL+"/"+testBucket+"/?delimiter=/"); r.status != 200 ||
		!strings.Contains(r.body, "<Key>k</Key>") || !strings.Contains(r.body, "<Prefix>d/</Prefix>") {
		t.Errorf("bucket listing: %d %s", r.status, r.body)
	}
	// ListObjectsV2, one key per page.
	var keys []string
	token := ""
	for i := 0; i < 5; i++ {
		u := e.ts.URL + "/" + testBucket + "?list-type=2&max-keys=1"
		if token != "" {
			u += "&continuation-token=" + url.QueryEscape(token)
		}
		r := doURL(t, "GET", u)
		var res listResultV2
		if err := xml.Unmarshal([]byte(r.body), &res); err != nil || r.status != 200 {
			t.Fatalf("list v2: %d %v %s", r.status, err, r.body)
		}
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		if !res.IsTruncated {
			break
		}
		token = res.NextContinuationToken
	}
	if strings.Join(keys, ",") != "d/k2,d/k3,k" {
		t.Errorf("paged listing: %v", keys)
	}
	if r := doURL(t, "GET", e.ts.URL+"/"); r.status != 501 {
		t.Errorf("list buckets: %d", r.status)
	}
}

// The file fast path caches decoded sidecars; an object replaced in the
// target (by the application) is served with its new headers and bytes.
func TestFileHitSidecarCacheFollowsReplacement(t *testing.T) {
	b, _ := fileTarget(t)
	e := newEnv(t, b, AddressingDomain, nil)
	e.put("doc", "version one", &blob.WriterOptions{ContentType: "text/plain", CacheControl: "max-age=1"})
	for range 2 { // the second GET is served from the cache
		if r := e.do("GET", "doc"); r.body != "version one" || r.header.Get("Content-Type") != "text/plain" || r.header.Get("Cache-Control") != "max-age=1" {
			t.Fatalf("first version: %d %q %v", r.status, r.body, r.header)
		}
	}
	for i, c := range []struct{ body, ctype string }{
		{"version two, longer", "application/json"},
		{"version 3, longer!!", "image/png"}, // same size as the previous one
	} {
		time.Sleep(5 * time.Millisecond) // a new modification time
		if err := b.Delete(context.Background(), "doc"); err != nil {
			t.Fatal(err)
		}
		e.put("doc", c.body, &blob.WriterOptions{ContentType: c.ctype})
		r := e.do("GET", "doc")
		if r.body != c.body || r.header.Get("Content-Type") != c.ctype || r.header.Get("Cache-Control") != "" {
			t.Fatalf("replacement %d: %q %v", i, r.body, r.header)
		}
	}
}

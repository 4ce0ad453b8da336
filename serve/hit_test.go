package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/internal/reqlog"
	"github.com/ferry-migrate/ferry/store"
)

// openPath opens bucket name at endpoint through the direct path ("direct"),
// the SDK alone ("sdk") or the direct path with anonymous_reads ("anon");
// it is closed when t ends.
func openPath(t *testing.T, name, endpoint, path string) *store.Bucket {
	t.Helper()
	u := "s3://" + name + "?endpoint=" + endpoint + "&region=us-east-1"
	switch path {
	case "sdk":
		u += "&direct_put=false"
	case "anon":
		u += "&anonymous_reads=true"
	}
	target, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	return target
}

// TestOneRequestPerAnswer counts the requests that reach MinIO: a GET hit
// (whole, ranged or conditional) is one GET, a HEAD one HEAD, a miss one
// GET (or HEAD) and, for a fill, the commit's PUT. For the direct path, the
// SDK's, and the direct path reading a public bucket unsigned
// (anonymous_reads=true).
func TestOneRequestPerAnswer(t *testing.T) {
	leakCheck(t)
	s := miniotest.Get(t)
	private, public := s.NewBucket(t), s.NewBucket(t)
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, public)
	if _, err := s.Client().PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(public), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	p := reqlog.New(t, s.Endpoint)
	o := newTestOrigin(t)
	paths := []string{"direct", "sdk", "anon"}
	for _, path := range paths {
		o.set("fill-"+path, hundred)
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			name := private
			if path == "anon" {
				name = public
			}
			target := openPath(t, name, p.URL, path)
			e := newEnv(t, target, AddressingDomain, originRules(o.URL))
			key := "hit-" + path
			e.put(key, hundred, nil)
			etag := e.do("HEAD", key).header.Get("ETag")
			obj := "/" + name + "/" + key
			p.Take()
			for _, c := range []struct {
				name, method, key string
				hdr               []string
				status            int
				want              []string
			}{
				{"GET hit", "GET", key, nil, 200, []string{"GET " + obj}},
				{"HEAD hit", "HEAD", key, nil, 200, []string{"HEAD " + obj}},
				{"Range hit", "GET", key, []string{"Range", "bytes=10-19"}, 206, []string{"GET " + obj}},
				{"suffix Range hit", "GET", key, []string{"Range", "bytes=-5"}, 206, []string{"GET " + obj}},
				{"HEAD Range hit", "HEAD", key, []string{"Range", "bytes=0-9"}, 206, []string{"HEAD " + obj}},
				{"304", "GET", key, []string{"If-None-Match", etag}, 304, []string{"GET " + obj}},
				{"412", "GET", key, []string{"If-Match", `"other"`}, 412, []string{"GET " + obj}},
				{"If-Range hit", "GET", key, []string{"Range", "bytes=0-9", "If-Range", etag}, 206, []string{"GET " + obj}},
				{"HEAD miss", "HEAD", "none", nil, 404, []string{"HEAD /" + name + "/none"}},
			} {
				r := e.do(c.method, c.key, c.hdr...)
				if r.status != c.status {
					t.Errorf("%s: status %d, want %d", c.name, r.status, c.status)
				}
				if got := p.Take(); !slices.Equal(got, c.want) {
					t.Errorf("%s: target saw %q, want %q", c.name, got, c.want)
				}
			}
			// A miss: the GET's 404 starts the fill (the origin answers 404
			// here: nothing more reaches the target) ...
			if r := e.do("GET", "none"); r.status != 404 {
				t.Errorf("miss: %d", r.status)
			}
			if got := p.Take(); !slices.Equal(got, []string{"GET /" + name + "/none"}) {
				t.Errorf("miss: target saw %q", got)
			}
			// ... or stores the origin's object with one PUT.
			fill := "fill-" + path
			if r := e.do("GET", fill); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" {
				t.Fatalf("fill: %d %v", r.status, r.header)
			}
			p.WaitFor(t, "PUT /"+name+"/"+fill)
			if got := p.Take(); !slices.Equal(got, []string{"GET /" + name + "/" + fill, "PUT /" + name + "/" + fill}) {
				t.Errorf("fill: target saw %q", got)
			}
		})
	}
	if n := o.count.Load(); n != 3*int64(len(paths)) {
		t.Errorf("%d origin requests, want %d (per path: a HEAD, a 404 and a fill)", n, 3*len(paths))
	}
}

// When the answer the target gave does not hold the bytes to send (a stale
// If-Range asks for the whole object), serve reads them with one more
// request; a range the object cannot satisfy is answered from a HEAD.
func TestHitSecondRequestOnlyWhenNeeded(t *testing.T) {
	leakCheck(t)
	s := miniotest.Get(t)
	name := s.NewBucket(t)
	p := reqlog.New(t, s.Endpoint)
	target, err := store.Open(context.Background(), "s3://"+name+"?endpoint="+p.URL+"&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	e := newEnv(t, target, AddressingDomain, nil)
	e.put("k", hundred, nil)
	e.put("empty", "", nil)
	p.Take()
	r := e.do("GET", "k", "Range", "bytes=0-9", "If-Range", `"stale"`)
	if r.status != 200 || r.body != hundred {
		t.Errorf("stale If-Range: %d %q", r.status, r.body)
	}
	if got := p.Take(); !slices.Equal(got, []string{"GET /" + name + "/k", "GET /" + name + "/k"}) {
		t.Errorf("stale If-Range: target saw %q", got)
	}
	for _, key := range []string{"k", "empty"} {
		r = e.do("GET", key, "Range", "bytes=100-")
		if r.status != 416 || s3Code(t, r.body) != "InvalidRange" || !strings.HasPrefix(r.header.Get("Content-Range"), "bytes */") {
			t.Errorf("416 %s: %d %v %s", key, r.status, r.header, r.body)
		}
		if got := p.Take(); len(got) != 2 || got[0] != "GET /"+name+"/"+key || got[1] != "HEAD /"+name+"/"+key {
			t.Errorf("416 %s: target saw %q", key, got)
		}
	}
}

// A target whose body breaks off mid-way: the client sees a broken
// transfer or an error status, never a clean short answer (small bodies and
// streamed ones). A small body through fasthttp's client (direct=true)
// arrives whole with its headers or not at all, so its break is found
// before serve answers: a 5xx.
func TestHitTargetBodyBreaks(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bkt" || r.URL.Path == "/bkt/" { // the open check lists
			_, _ = w.Write([]byte(`<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`))
			return
		}
		size := 1000
		if strings.HasSuffix(r.URL.Path, "/big") {
			size = 1 << 20
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.Header().Set("ETag", `"abc"`)
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write([]byte(strings.Repeat("x", size/2)))
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer s3.Close()
	for _, direct := range []string{"true", "false"} {
		target, err := store.Open(context.Background(), "s3://bkt?endpoint="+s3.URL+"&direct_put="+direct)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, target, AddressingDomain, nil)
		for _, key := range []string{"small", "big"} {
			resp, err := http.Get(e.ts.URL + "/" + key)
			if err == nil {
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr == nil && resp.StatusCode < 500 {
					t.Errorf("direct=%s %s: clean %d answer with %d bytes from a broken target body", direct, key, resp.StatusCode, len(body))
				}
			}
		}
		target.Close()
	}
}

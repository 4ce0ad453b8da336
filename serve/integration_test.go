package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// testOrigin is an httptest origin serving /<key> from a map, counting
// requests and recording the headers it received.
type testOrigin struct {
	*httptest.Server
	mu      sync.Mutex
	objects map[string]string
	hdrs    []http.Header
	hosts   []string
	count   atomic.Int64
	gets    atomic.Int64
	gate    chan struct{} // when set, bodies wait for it after the first half
}

func newTestOrigin(t *testing.T) *testOrigin {
	o := &testOrigin{objects: map[string]string{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.count.Add(1)
		o.mu.Lock()
		body, ok := o.objects[strings.TrimPrefix(r.URL.Path, "/")]
		o.hdrs = append(o.hdrs, r.Header.Clone())
		o.hosts = append(o.hosts, r.Host)
		gate := o.gate
		o.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Expires", "Thu, 01 Jan 2037 00:00:00 GMT")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		o.gets.Add(1)
		half := len(body) / 2
		io.WriteString(w, body[:half])
		w.(http.Flusher).Flush()
		if gate != nil {
			<-gate
		}
		io.WriteString(w, body[half:])
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *testOrigin) setGate(gate chan struct{}) {
	o.mu.Lock()
	o.gate = gate
	o.mu.Unlock()
}

func (o *testOrigin) set(key, body string) {
	o.mu.Lock()
	o.objects[key] = body
	o.mu.Unlock()
}

func originRules(origin string) *rules.Set {
	return &rules.Set{Rules: []rules.Rule{{Origin: origin + "/", FollowRedirects: true, MirrorHead: true}}}
}

func waitStored(t *testing.T, b *store.Bucket, key string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ok, _ := b.Exists(context.Background(), key); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not stored within 60s", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMirrorFillThenHit(t *testing.T) {
	leakCheck(t)
	for _, tc := range []struct {
		name string
		mk   func(t *testing.T) (*store.Bucket, string)
	}{
		{"file", fileTarget},
		{"minio", func(t *testing.T) (*store.Bucket, string) { return minioTarget(t), "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newTestOrigin(t)
			o.set("img/a.txt", hundred)
			b, _ := tc.mk(t)
			e := newEnv(t, b, AddressingDomain, originRules(o.URL))

			r := e.do("GET", "img/a.txt", "Authorization", "Bearer secret", "Cookie", "s=1", "X-Forwarded-For", "1.2.3.4")
			if r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" {
				t.Fatalf("fill: %d %q %v", r.status, r.body, r.header)
			}
			if h := o.hdrs[0]; h.Get("Authorization") != "" || h.Get("Cookie") != "" || h.Get("X-Forwarded-For") != "" {
				t.Errorf("client credentials reached the origin: %v", h)
			}
			if !strings.Contains(o.hdrs[0].Get("Via"), DefaultVia) {
				t.Errorf("origin request without the Via token: %v", o.hdrs[0])
			}
			waitStored(t, b, "img/a.txt")
			r = e.do("GET", "img/a.txt", "Range", "bytes=10-19")
			if r.status != 206 || r.body != hundred[10:20] || r.header.Get("X-Ferry-Mirror") != "hit" {
				t.Errorf("hit after fill: %d %q %v", r.status, r.body, r.header)
			}
			if r.header.Get("Expires") != "Thu, 01 Jan 2037 00:00:00 GMT" || r.header.Get("Content-Type") != "text/plain" {
				t.Errorf("stored headers not served: %v", r.header)
			}
			if n := o.count.Load(); n != 1 {
				t.Errorf("%d origin requests, want 1", n)
			}
			if r := e.do("GET", "img/none"); r.status != 404 || s3Code(t, r.body) != "NoSuchKey" {
				t.Errorf("origin 404: %d", r.status)
			}
			if r := e.do("HEAD", "img/headonly"); r.status != 404 {
				t.Errorf("HEAD origin 404: %d", r.status)
			}
			o.set("img/headonly", "xyz")
			if r := e.do("HEAD", "img/headonly"); r.status != 200 || r.header.Get("X-Ferry-Mirror") != "origin" || r.header.Get("Content-Length") != "3" {
				t.Errorf("HEAD from origin: %d %v", r.status, r.header)
			}
			if ok, _ := b.Exists(context.Background(), "img/headonly"); ok {
				t.Error("HEAD stored the object")
			}
		})
	}
}

// The client's Host reaches the origin only when a rule passes it.
func TestMirrorPassHost(t *testing.T) {
	leakCheck(t)
	o := newTestOrigin(t)
	o.set("a", "x")
	o.set("b", "y")
	b, _ := fileTarget(t)
	set := originRules(o.URL)
	set.Rules[0].KeyPrefix = "a"
	set.Rules[0].Headers.Pass = []string{"Host"}
	set.Rules = append(set.Rules, originRules(o.URL).Rules[0])
	e := newEnv(t, b, AddressingDomain, set)
	for _, key := range []string{"a", "b"} {
		req, err := http.NewRequest("GET", e.url(key), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "www.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", key, resp.StatusCode)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	originHost := strings.TrimPrefix(o.URL, "http://")
	if len(o.hosts) != 2 || o.hosts[0] != "www.example.com" || o.hosts[1] != originHost {
		t.Fatalf("origin saw Host %q; want [www.example.com %s]", o.hosts, originHost)
	}
}

func TestMirrorCoalescedStreaming(t *testing.T) {
	leakCheck(t)
	o := newTestOrigin(t)
	o.set("big", strings.Repeat("x", 200000))
	o.gate = make(chan struct{})
	b, _ := fileTarget(t)
	e := newEnv(t, b, AddressingDomain, originRules(o.URL))

	// Both clients get the first half while the origin is still held.
	type got struct {
		resp *http.Response
		err  error
	}
	first := make(chan got, 2)
	for i := 0; i < 2; i++ {
		go func() {
			resp, err := http.Get(e.url("big"))
			if err == nil {
				_, err = io.ReadFull(resp.Body, make([]byte, 1000))
			}
			first <- got{resp, err}
		}()
		if i == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	var resps []*http.Response
	modes := map[string]int{}
	for i := 0; i < 2; i++ {
		g := <-first
		if g.err != nil {
			t.Fatal(g.err)
		}
		resps = append(resps, g.resp)
		modes[g.resp.Header.Get("X-Ferry-Mirror")]++
	}
	close(o.gate)
	for _, resp := range resps {
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(rest) != 200000-1000 {
			t.Errorf("rest: %d bytes, %v", len(rest), err)
		}
	}
	if modes["fill"] != 1 || modes["coalesced"] != 1 {
		t.Errorf("modes %v, want one fill and one coalesced", modes)
	}
	if n := o.count.Load(); n != 1 {
		t.Errorf("%d origin requests, want 1", n)
	}
}

func TestMirrorOriginDiesMidBody(t *testing.T) {
	leakCheck(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, strings.Repeat("y", 400))
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer origin.Close()
	b, _ := fileTarget(t)
	e := newEnv(t, b, AddressingDomain, originRules(origin.URL))
	// The client sees a broken transfer: an error before or during the body.
	resp, err := http.Get(e.url("k"))
	if err == nil {
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Errorf("clean %d-byte response from a broken fill (status %d)", len(body), resp.StatusCode)
		}
	}
	eventually(t, "the broken fill to end", func() bool { return e.m.InFlight() == 0 })
	if ok, _ := b.Exists(context.Background(), "k"); ok {
		t.Error("partial object stored")
	}
}

// TestMirrorLoop: an origin that points back at serve is answered 508 by the
// inner request, so the outer fill fails once instead of recursing.
func TestMirrorLoop(t *testing.T) {
	leakCheck(t)
	b, _ := fileTarget(t)
	var calls atomic.Int64
	var inner http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		inner.ServeHTTP(w, r)
	}))
	defer ts.Close()
	m, err := mirror.New(mirror.Options{Target: b, SpoolDir: t.TempDir(), Via: DefaultVia})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv, err := New(Options{Target: b, Mirror: m, Settings: Settings{Rules: originRules(ts.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	inner = srv.Handler()
	r := doURL(t, "GET", ts.URL+"/loop")
	if r.status != 424 || s3Code(t, r.body) != "MirrorFailed" {
		t.Errorf("loop: %d %s", r.status, r.body)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests reached serve, want 2 (client, then the refused loop)", n)
	}
}

// TestRcloneInterop reads through serve in path mode with rclone as an
// anonymous S3 client: a hit and a miss that fills.
func TestRcloneInterop(t *testing.T) {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rclone is required in CI")
		}
		t.Skip("rclone not installed")
	}
	o := newTestOrigin(t)
	o.set("dir/miss.txt", "from the origin\n")
	b, _ := fileTarget(t)
	e := newEnv(t, b, AddressingPath, originRules(o.URL))
	e.put("dir/hit.txt", "from the target\n", nil)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RCLONE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_FERRY_TYPE=s3", "RCLONE_CONFIG_FERRY_PROVIDER=Other",
		"RCLONE_CONFIG_FERRY_ENDPOINT="+e.ts.URL, "RCLONE_CONFIG_FERRY_REGION=us-east-1",
		"RCLONE_CONFIG_FERRY_FORCE_PATH_STYLE=true", "RCLONE_CONFIG_FERRY_ENV_AUTH=false")
	rclone := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("rclone %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// A hit: rclone cat (HEAD, a listing of the parent, GET) and copyto.
	if out := rclone("cat", "ferry:"+testBucket+"/dir/hit.txt"); out != "from the target\n" {
		t.Errorf("rclone cat hit: %q", out)
	}
	// A miss: copyto reads one object (HEAD answered from the origin, then
	// a GET that fills); rclone cat lists, and listings show the target, so
	// it reads the key once it has been filled.
	dst := t.TempDir() + "/copy"
	rclone("copyto", "ferry:"+testBucket+"/dir/miss.txt", dst)
	if data, _ := os.ReadFile(dst); string(data) != "from the origin\n" {
		t.Errorf("rclone copyto miss: %q", data)
	}
	waitStored(t, b, "dir/miss.txt")
	if out := rclone("cat", "ferry:"+testBucket+"/dir/miss.txt"); out != "from the origin\n" {
		t.Errorf("rclone cat after fill: %q", out)
	}
	if n := o.gets.Load(); n != 1 {
		t.Errorf("%d origin GETs, want 1 (the fill)", n)
	}
}

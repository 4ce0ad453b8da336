// Package conformance runs an independent S3 conformance suite against
// ferry serve: the GetObject, HeadObject, ListObjects and ListObjectsV2
// groups of versitygw's integration tests
// (github.com/versity/versitygw/tests/integration, v1.8.0).
//
// The suite writes through the endpoint it reads from, so a small router
// stands in front: GET and HEAD of objects, and listings, go to ferry serve (one serve per
// bucket, path addressing, a MinIO bucket as its target), everything else
// (bucket calls, writes, object sub-resources such as ?tagging) goes to
// MinIO. The groups run first against MinIO directly: a case MinIO itself
// fails says nothing about serve. Every case MinIO passes must pass through
// serve, except the exclusions below, each with its reason.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/serve"
	"github.com/ferry-migrate/ferry/store"
	"github.com/versity/versitygw/tests/integration"
	"golang.org/x/sync/errgroup"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// groups are the name prefixes of the cases run: the GetObject and
// HeadObject groups, and the listings serve answers (ListObjects V1, V2).
var groups = []string{"GetObject_", "HeadObject_", "ListObjects_", "ListObjectsV2_"}

// exclusions are cases MinIO passes that serve does not (yet), with why.
// The test fails on an exclusion that passes, so the list stays true.
// (None since serve answers partNumber.)
var exclusions = map[string]string{}

// skipped are cases not run at all, with why.
var skipped = map[string]string{
	"GetObject_large_object": "100 MiB written and read twice: too slow for CI's budget on 2 cores; GetObject_with_range and GetObject_success cover the same path",
}

type outcome struct {
	err error
}

func TestVersityGetHead(t *testing.T) {
	// The SDK inside the suite refuses to start while AWS_CA_BUNDLE names a
	// bundle it cannot use for plain-HTTP endpoints.
	if v, ok := os.LookupEnv("AWS_CA_BUNDLE"); ok {
		os.Unsetenv("AWS_CA_BUNDLE")
		t.Cleanup(func() { os.Setenv("AWS_CA_BUNDLE", v) })
	}
	s := miniotest.Get(t)
	cases := selectCases()
	router := newRouter(t, s)
	var direct, via map[string]outcome
	restore := quiet(t)
	var wg sync.WaitGroup
	wg.Go(func() { direct = runAll(s.Endpoint, cases) })
	wg.Go(func() { via = runAll(router.URL, cases) })
	wg.Wait()
	restore()

	minioPasses, servePasses := 0, 0
	for _, name := range sortedNames(cases) {
		d, v := direct[name], via[name]
		reason, excluded := exclusions[name]
		switch {
		case d.err != nil:
			t.Logf("%s: MinIO fails it, not counted: %v (through serve: %v)", name, d.err, v.err)
			continue
		case v.err == nil && excluded:
			t.Errorf("%s passes through serve now: remove its exclusion (%s)", name, reason)
		case v.err != nil && excluded:
			t.Logf("%s: excluded (%s): %v", name, reason, v.err)
		case v.err != nil:
			t.Errorf("%s: MinIO passes it, serve fails it: %v", name, v.err)
		}
		minioPasses++
		if v.err == nil {
			servePasses++
		}
	}
	t.Logf("versitygw GetObject, HeadObject, ListObjects, ListObjectsV2: %d cases, %d skipped, MinIO passes %d, serve passes %d of those, %d excluded",
		len(cases), len(skipped), minioPasses, servePasses, len(exclusions))
	if minioPasses < len(cases)/2 {
		t.Errorf("MinIO passes only %d of %d cases: the harness is broken", minioPasses, len(cases))
	}
}

// selectCases returns the suite's cases of the groups, less the skipped.
func selectCases() map[string]integration.IntTest {
	out := map[string]integration.IntTest{}
	for name, fn := range integration.GetIntTests() {
		for _, g := range groups {
			if strings.HasPrefix(name, g) && skipped[name] == "" {
				out[name] = fn
			}
		}
	}
	return out
}

func sortedNames(m map[string]integration.IntTest) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// runAll runs every case against endpoint, a few at a time (the suite runs
// them in parallel itself; each case has its own bucket). The suite's own
// RUN/PASS/FAIL lines go to stdout, which TestVersityGetHead sends to a
// file; the outcomes come from the errors.
func runAll(endpoint string, cases map[string]integration.IntTest) map[string]outcome {
	conf := integration.NewS3Conf(
		integration.WithAccess(miniotest.AccessKey),
		integration.WithSecret(miniotest.SecretKey),
		integration.WithRegion("us-east-1"),
		integration.WithEndpoint(endpoint),
	)
	var mu sync.Mutex
	out := map[string]outcome{}
	var g errgroup.Group
	g.SetLimit(3)
	for _, name := range sortedNames(cases) {
		g.Go(func() error {
			err := runCase(cases[name], conf)
			mu.Lock()
			out[name] = outcome{err}
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return out
}

// runCase runs one case; a panic in the suite (it indexes answers without
// checking their length) is that case's failure.
func runCase(fn integration.IntTest, conf *integration.S3Conf) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the case panicked: %v", p)
		}
	}()
	return fn(conf)
}

// quiet sends the process's stdout to a file until the returned func runs.
func quiet(t *testing.T) func() {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = log
	return func() {
		os.Stdout = stdout
		_ = log.Close()
	}
}

// router sends GET and HEAD of objects, and listings, to a ferry serve of
// the bucket and every other request to MinIO.
type router struct {
	minio   *httputil.ReverseProxy
	s       *miniotest.Server
	mu      sync.Mutex
	serve   map[string]http.Handler
	targets []*store.Bucket
}

func newRouter(t *testing.T, s *miniotest.Server) *httptest.Server {
	t.Helper()
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	r := &router{s: s, serve: map[string]http.Handler{}}
	r.minio = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the client signed this Host
	}}
	ts := httptest.NewServer(r)
	t.Cleanup(func() {
		ts.CloseClientConnections() // cases that leave a body unread
		ts.Close()
		for _, b := range r.targets {
			_ = b.Close()
		}
	})
	return ts
}

// objectSubresources are queries that make a GET or HEAD of an object
// another API than GetObject/HeadObject.
var objectSubresources = []string{"acl", "tagging", "attributes", "retention", "legal-hold", "uploadId", "torrent", "restore", "select"}

// listParams are the query parameters of a listing; a GET of a bucket
// with others (?location, ?versioning, ?uploads, ...) is another API.
var listParams = []string{"list-type", "prefix", "delimiter", "max-keys", "marker", "continuation-token", "start-after", "encoding-type", "fetch-owner"}

// toServe reports whether serve answers req: GetObject, HeadObject and the
// listings of objects.
func toServe(req *http.Request, bucket, key string) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead || bucket == "" {
		return false
	}
	q := req.URL.Query()
	if key != "" {
		return !slices.ContainsFunc(objectSubresources, q.Has)
	}
	if req.Method != http.MethodGet {
		return false // HeadBucket
	}
	for p := range q {
		if !slices.Contains(listParams, p) {
			return false
		}
	}
	return true
}

func (r *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	if !toServe(req, bucket, key) {
		r.minio.ServeHTTP(w, req)
		return
	}
	h, err := r.serveFor(req.Context(), bucket)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	h.ServeHTTP(w, req)
}

// serveFor returns the serve of bucket, started on first use.
func (r *router) serveFor(ctx context.Context, bucket string) (http.Handler, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.serve[bucket]; h != nil {
		return h, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Without the reachability check: a bucket that does not exist is then
	// a serve whose target bucket is gone (NoSuchBucket, as S3 answers).
	target, err := store.OpenWith(ctx, r.s.URL(bucket, ""), store.Options{SkipCheck: true})
	if err != nil {
		return nil, err
	}
	srv, err := serve.New(serve.Options{Target: target, Settings: serve.Settings{Addressing: serve.AddressingPath, Bucket: bucket}})
	if err != nil {
		return nil, errors.Join(err, target.Close())
	}
	r.targets = append(r.targets, target)
	r.serve[bucket] = srv.Handler()
	return r.serve[bucket], nil
}

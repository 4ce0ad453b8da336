// Package gcstest runs a Google Cloud Storage emulator (fake-gcs-server,
// in process) for tests of gs:// buckets, and records every request that
// reaches it, so a test can count what one answer cost.
package gcstest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Server is a running emulator. New points STORAGE_EMULATOR_HOST at it,
// so store.Open of a gs:// URL reaches it without credentials.
type Server struct {
	*fakestorage.Server
	Addr string // 127.0.0.1:PORT

	mu   sync.Mutex
	seen []Request
}

// A Request is what reached the emulator.
type Request struct {
	Method, Path, Query string
	AcceptEncoding      string
}

func (r Request) String() string { return r.Method + " " + r.Path }

// New starts an emulator for t and sets STORAGE_EMULATOR_HOST to it for
// t's duration (so t and its parents must not run in parallel).
func New(t testing.TB) *Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	s := &Server{Addr: ts.Listener.Addr().String()}
	// The emulator tells its own API requests from bucket-in-host ones by
	// the Host header: it must be the address clients dial.
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", NoListener: true, PublicHost: s.Addr})
	if err != nil {
		t.Fatal(err)
	}
	s.Server = fake
	h := fake.HTTPHandler()
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, Request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Accept-Encoding")})
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	ts.Start()
	t.Cleanup(func() { ts.Close(); fake.Stop() })
	t.Setenv("STORAGE_EMULATOR_HOST", s.Addr)
	return s
}

// NewBucket creates a bucket and returns its name.
func (s *Server) NewBucket(t testing.TB, name string) string {
	t.Helper()
	s.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	return name
}

// URL is the gs:// URL of bucket, scoped to prefix when not "".
func (s *Server) URL(bucket, prefix string) string {
	u := "gs://" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u
}

// Take returns the requests seen since the last Take.
func (s *Server) Take() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.seen
	s.seen = nil
	return r
}

// TakeStrings is Take as "METHOD /path" strings.
func (s *Server) TakeStrings() []string {
	var out []string
	for _, r := range s.Take() {
		out = append(out, r.String())
	}
	return out
}

// ObjectPath is the XML-API path of a read of key in bucket, as the
// emulator sees it ("/bucket/key", the key unescaped).
func ObjectPath(bucket, key string) string { return "/" + bucket + "/" + key }

// MetadataPath is the JSON-API path of a request for key's attributes in
// bucket, as the emulator sees it (the key unescaped).
func MetadataPath(bucket, key string) string { return "/storage/v1/b/" + bucket + "/o/" + key }

// NoBuckets starts a server that answers every request as GCS answers one
// for a bucket that does not exist (a 404 with the XML API's NoSuchBucket
// body, or the JSON API's error) and points STORAGE_EMULATOR_HOST at it.
// The emulator answers such reads with a bare "Not Found", so a test of
// what ferry makes of a gone bucket needs GCS's own bodies.
func NoBuckets(t testing.TB) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/storage/v1/") || strings.HasPrefix(r.URL.Path, "/upload/") {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":404,"message":"The specified bucket does not exist.","errors":[{"message":"The specified bucket does not exist.","domain":"global","reason":"notFound"}]}}`)
			return
		}
		w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message></Error>`)
	}))
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()
	t.Setenv("STORAGE_EMULATOR_HOST", addr)
	return addr
}

// ListObjects returns the names the emulator stores in bucket.
func (s *Server) ListObjects(t testing.TB, bucket string) []string {
	t.Helper()
	objs, _, err := s.Server.ListObjectsWithOptions(bucket, fakestorage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Name
	}
	return names
}

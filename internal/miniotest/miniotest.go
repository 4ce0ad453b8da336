// Package miniotest starts a real MinIO server for integration tests.
//
// One server is started lazily per test binary on a free loopback port with a
// temporary data directory; Stop (called from TestMain through Main) ends it.
// Start gives a test a private server that it may Kill and Restart (on the
// same address, with the same data), as an outage of the target would.
// The binary is found in $MINIO_BIN, $PATH or $(go env GOPATH)/bin. When it is
// missing, tests skip, except with CI=true, where they fail: CI must never
// silently skip the MinIO suite.
package miniotest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/ferry-migrate/ferry/internal/freeport"
)

// Credentials used by the test server; exported into the process
// environment so store.Open picks them up through the standard AWS chain.
const (
	AccessKey = "ferrytest"
	SecretKey = "ferrytest-secret"
)

// Server is a running MinIO.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	bin      string
	addr     string // 127.0.0.1:PORT
	console  string
	dir      string
	client   *s3.Client
	seq      atomic.Int64

	mu  sync.Mutex
	cmd *exec.Cmd // nil while killed
}

var (
	once    sync.Once
	shared  *Server
	initErr error
)

// Main runs the tests of a package and stops the shared server afterwards.
// Use it from TestMain: func TestMain(m *testing.M) { miniotest.Main(m) }.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run runs the tests of a package, stops the shared server and returns the
// exit code, for a TestMain that has more to clean up before os.Exit.
func Run(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	return code
}

// Binary returns the path of the MinIO binary or an error saying how to get it.
func Binary() (string, error) {
	if p := os.Getenv("MINIO_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("minio binary not found: run scripts/test (it installs it) or set MINIO_BIN")
}

// Get returns the shared server, starting it on first use. It skips the test
// when MinIO is unavailable, or fails it when CI=true.
func Get(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, initErr = start() })
	if initErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MinIO is required in CI: %v", initErr)
		}
		t.Skipf("MinIO not available: %v", initErr)
	}
	return shared
}

func start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ferry-minio-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		// Two distinct ports outside the kernel's ephemeral range
		// (freeport says why).
		ports, err := freeport.Ports(2)
		if err != nil {
			return nil, err
		}
		s := &Server{bin: bin, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), console: fmt.Sprintf("127.0.0.1:%d", ports[1])}
		s.Endpoint = "http://" + s.addr
		if lastErr = s.launch(); lastErr != nil {
			continue
		}
		// store.Open reads credentials from the standard AWS chain.
		os.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
		os.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
		os.Setenv("AWS_REGION", "us-east-1")
		os.Unsetenv("AWS_PROFILE")
		cfg, err := config.LoadDefaultConfig(context.Background(),
			config.WithRegion("us-east-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")))
		if err != nil {
			s.stop()
			return nil, err
		}
		s.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(s.Endpoint)
			o.UsePathStyle = true
		})
		if lastErr = s.waitS3(60 * time.Second); lastErr != nil {
			s.stop()
			continue
		}
		return s, nil
	}
	return nil, fmt.Errorf("minio did not start: %v (log in %s)", lastErr, dir)
}

// launch runs the server process on s.addr with the data in s.dir and waits
// until it is ready.
func (s *Server) launch() error {
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.addr,
		"--console-address", s.console, filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	logf, _ := os.OpenFile(filepath.Join(s.dir, "minio.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := startCmd(cmd); err != nil {
		return err
	}
	if err := s.waitReady(60 * time.Second); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	return nil
}

// Start starts a private server for t on a free port, stopped when t ends
// (same skip-or-fail rule as Get). Use it to Kill and Restart the target
// without disturbing the tests that share Get's server.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MinIO is required in CI: %v", err)
		}
		t.Skipf("MinIO not available: %v", err)
	}
	t.Cleanup(s.stop)
	return s
}

// Kill ends the server with SIGKILL, as a crash would: connections are
// reset and the port refuses new ones until Restart.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// Restart starts a killed server again on the same address with the same
// data and waits until it is ready.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.launch(); err == nil {
			if err = s.waitS3(60 * time.Second); err != nil {
				t.Fatalf("minio restart on %s: %v (log in %s)", s.addr, err, s.dir)
			}
			return
		}
	}
	t.Fatalf("minio restart on %s: %v (log in %s)", s.addr, err, s.dir)
}

// waitS3 waits until MinIO answers a signed S3 call: /minio/health/ready
// turns 200 before IAM is loaded, and a loaded machine then sees 503
// XMinioServerNotInitialized on the first bucket calls.
func (s *Server) waitS3(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("S3 calls still fail after %v: %w", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v", d)
}

func (s *Server) stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(s.dir)
}

// Client returns an S3 client with the server's root credentials.
func (s *Server) Client() *s3.Client { return s.client }

// NewBucket creates a fresh bucket and returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, s.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// URL returns the ferry/store URL of bucket (optionally with a prefix).
func (s *Server) URL(bucket, prefix string) string {
	u := "s3://" + bucket
	if prefix != "" {
		u += "/" + strings.Trim(prefix, "/")
	}
	return u + "?endpoint=" + s.Endpoint + "&region=us-east-1"
}

// BucketURL creates a fresh bucket and returns its URL.
func (s *Server) BucketURL(t testing.TB) string {
	return s.URL(s.NewBucket(t), "")
}

// PendingUploads returns the number of unfinished multipart uploads in bucket.
func (s *Server) PendingUploads(t testing.TB, bucket string) int {
	t.Helper()
	out, err := s.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return len(out.Uploads)
}

// PutMultipart stores key in bucket as a multipart upload of parts (each
// but the last at least 5 MiB, as S3 requires).
func (s *Server) PutMultipart(t testing.TB, bucket, key string, parts ...[]byte) {
	t.Helper()
	ctx := context.Background()
	mp, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i, p := range parts {
		n := aws.Int32(int32(i + 1))
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: mp.UploadId,
			PartNumber: n, Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: n})
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: mp.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
}

package scan

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// slowDownS3 is an S3 endpoint whose bucket lists empty and answers every
// PUT with 503 SlowDown; it counts the PUTs per key.
func slowDownS3(t *testing.T) (endpoint string, puts func(key string) int) {
	var mu sync.Mutex
	n := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/bkt/")
		switch {
		case r.Method == http.MethodGet && (r.URL.Path == "/bkt" || r.URL.Path == "/bkt/"):
			w.Header().Set("Content-Type", "application/xml")
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bkt</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`))
		case r.Method == http.MethodPut:
			mu.Lock()
			n[key]++
			mu.Unlock()
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func(key string) int {
		mu.Lock()
		defer mu.Unlock()
		return n[key]
	}
}

// --retries N means N extra attempts in total: the AWS SDK's own retryer is
// off, so a target answering 503 SlowDown gets exactly N+1 PUTs per key on
// the SDK write path and on the direct PUT alike.
func TestRetriesAreOneLayer(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	for _, direct := range []string{"true", "false"} {
		t.Run("direct_put="+direct, func(t *testing.T) {
			endpoint, puts := slowDownS3(t)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello"), 0o644); err != nil {
				t.Fatal(err)
			}
			src := open(t, "file://"+dir)
			dst := open(t, "s3://bkt?endpoint="+endpoint+"&direct_put="+direct)
			res := runScan(t, Options{Origin: src, Target: dst, Retries: 2})
			if res.Failed != 1 {
				t.Fatalf("failed = %d, want 1: %+v", res.Failed, res.Stats)
			}
			if got := puts("a.txt"); got != 3 {
				t.Fatalf("%d PUTs with --retries 2, want 3", got)
			}
			if res.Retries != 2 {
				t.Fatalf("retries counted %d, want 2", res.Retries)
			}
		})
	}
}

// Each retry of a key is logged at debug level, its final failure once, at
// warn level: an operator at the default level hears of a failed key once.
func TestRetriesLogDebugFailureOnceWarn(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	endpoint, puts := slowDownS3(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, dst := open(t, "file://"+dir), open(t, "s3://bkt?endpoint="+endpoint)
	res := runScan(t, Options{Origin: src, Target: dst, Retries: 2, Logger: log})
	if res.Failed != 1 || puts("a.txt") != 3 {
		t.Fatalf("failed %d, %d PUTs; want 1 and 3", res.Failed, puts("a.txt"))
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct{ Level, Msg, Key string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Key == "a.txt" || rec.Level == "WARN" || rec.Level == "ERROR" {
			count[rec.Level+" "+rec.Msg]++
		}
	}
	if want := map[string]int{"DEBUG retrying": 2, "WARN copy failed": 1}; !maps.Equal(count, want) {
		t.Fatalf("log lines %v, want %v\n%s", count, want, buf.String())
	}
}

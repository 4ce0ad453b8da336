package serve

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-migrate/ferry/store"
)

// A target that throttles (503 SlowDown) is passed on as 503 SlowDown, once:
// serve does not retry target calls (the SDK's retryer is off), the client
// backs off as it would from S3 itself.
func TestTargetSlowDownPassedOn(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	var objectCalls atomic.Int64
	s3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bkt" || r.URL.Path == "/bkt/" { // the open check lists
			_, _ = w.Write([]byte(`<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated></ListBucketResult>`))
			return
		}
		objectCalls.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
		}
	}))
	defer s3.Close()
	target, err := store.Open(context.Background(), "s3://bkt?endpoint="+s3.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	e := newEnv(t, target, AddressingDomain, nil)
	resp, err := http.Get(e.ts.URL + "/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "<Code>SlowDown</Code>") {
		t.Fatalf("status %d body %s, want 503 SlowDown", resp.StatusCode, body)
	}
	if n := objectCalls.Load(); n != 1 {
		t.Fatalf("%d target calls for one GET, want 1 (no retries under serve)", n)
	}
}

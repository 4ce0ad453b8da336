package mirror

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
)

// testSkew is the clock skew the sweep allows in these tests: ferry and
// MinIO share this machine's clock.
const testSkew = 5 * time.Millisecond

// TestMinIOOrphanedUploadAborted: the answer to a fill's
// CreateMultipartUpload is lost (a proxy in front of MinIO lets MinIO create
// the upload, then drops the connection), so the SDK never learns the
// upload ID and cannot abort it. The mirror sweeps the key: the orphan is
// aborted, while another writer's upload of the same key begun before the
// fill, and an upload of a longer key begun during it, are kept.
func TestMinIOOrphanedUploadAborted(t *testing.T) {
	s := miniotest.Get(t)
	bucket := s.NewBucket(t)
	const key = "orphan/big.bin"
	foreign := createUpload(t, s, bucket, key)
	waitPast(t, s, bucket, foreign)

	var dropped atomic.Int64
	var sibling atomic.Value
	rp := httputil.NewSingleHostReverseProxy(mustURL(t, s.Endpoint))
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, creating := r.URL.Query()["uploads"]
		if r.Method != http.MethodPost || !creating || r.URL.Path != "/"+bucket+"/"+key {
			rp.ServeHTTP(w, r)
			return
		}
		// In the fill's window, but of another key.
		out, err := s.Client().CreateMultipartUpload(r.Context(), &s3.CreateMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(key + ".sibling")})
		if err == nil {
			sibling.Store(aws.ToString(out.UploadId))
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r) // MinIO creates the upload ...
		dropped.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close() // ... and its answer never arrives
		}
	}))
	defer proxy.Close()
	target, err := store.Open(context.Background(), "s3://"+bucket+"?endpoint="+proxy.URL+"&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	obs := &observer{}
	e := newEnv(t, target, func(o *Options) { o.Observer, o.uploadSkew = obs, testSkew })
	body := payload(store.MultipartThreshold+4096, 3)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})

	_, err = e.fill(context.Background(), e.req(o.URL, key))
	if failedReason(err) != string(ReasonStore) {
		t.Fatalf("fill: %v, want a store failure", err)
	}
	if dropped.Load() != 1 {
		t.Fatalf("%d CreateMultipartUpload answers dropped, want 1", dropped.Load())
	}
	if ok, err := target.Exists(context.Background(), key); err != nil || ok {
		t.Fatalf("%s stored after a failed upload: %v %v", key, ok, err)
	}
	left := pendingUploads(t, s, bucket)
	sib, _ := sibling.Load().(string)
	if len(left) != 2 || !sameIDs(left[key], []string{foreign}) || !sameIDs(left[key+".sibling"], []string{sib}) {
		t.Errorf("uploads left %v, want the foreign one of %s (%s) and the sibling's (%s)", left, key, foreign, sib)
	}
	if obs.swept.Load() != 1 || obs.sweepFailures.Load() != 0 {
		t.Errorf("observer: %d aborted, %d failed sweeps; want 1, 0", obs.swept.Load(), obs.sweepFailures.Load())
	}
}

// TestMinIOSweepJournal: the journal holds started lines of fills whose
// serve died (a pid that is gone) and of a fill still running in a live
// process. SweepJournal aborts the uploads of the dead fill's key begun
// since it started, keeps an older upload of that key and the live fill's
// upload, records the dead fill as failed, and finds nothing more to do the
// next time.
func TestMinIOSweepJournal(t *testing.T) {
	s := miniotest.Get(t)
	bucket := s.NewBucket(t)
	target, err := store.Open(context.Background(), s.URL(bucket, ""))
	if err != nil {
		t.Fatal(err)
	}
	const dead, done, live = "j/dead.bin", "j/done.bin", "j/live.bin"
	older := createUpload(t, s, bucket, dead)
	waitPast(t, s, bucket, older)

	jpath := filepath.Join(t.TempDir(), "serve-journal.jsonl")
	prev, err := OpenJournal(jpath)
	if err != nil {
		t.Fatal(err)
	}
	gone := exitedPID(t)
	started := time.Now().UTC()
	for _, e := range []Entry{
		{Time: started, Key: dead, Rule: 1, Origin: 1, Result: ResultStarted, Run: "r-dead", PID: gone},
		{Time: started, Key: done, Rule: 1, Origin: 1, Result: ResultStarted, Run: "r-dead", PID: gone},
		{Time: started, Key: done, Rule: 1, Origin: 1, Result: OutcomeStored, Run: "r-dead", PID: gone},
		{Time: started, Key: live, Rule: 1, Origin: 1, Result: ResultStarted, Run: "r-live", PID: os.Getppid()},
	} {
		if err := prev.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	_ = prev.Close()
	orphan := createUpload(t, s, bucket, dead) // the dead fill's upload
	kept := []string{createUpload(t, s, bucket, done), createUpload(t, s, bucket, live)}

	j, err := OpenJournal(jpath)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	obs := &observer{}
	e := newEnv(t, target, func(o *Options) { o.Observer, o.uploadSkew, o.Journal = obs, testSkew, j })
	n, err := e.m.SweepJournal(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("SweepJournal: %d aborted, %v; want 1 (%s)", n, err, orphan)
	}
	left := pendingUploads(t, s, bucket)
	if !sameIDs(left[dead], []string{older}) || !sameIDs(left[done], kept[:1]) || !sameIDs(left[live], kept[1:]) {
		t.Errorf("uploads left %v; want %s of %s and those of %s and %s", left, older, dead, done, live)
	}
	failed, err := FailedKeys(jpath)
	if err != nil || len(failed) != 2 || failed[0] != dead || failed[1] != live {
		t.Errorf("failed keys %v, %v; want %s (interrupted) and %s (still running)", failed, err, dead, live)
	}
	if n, err := e.m.SweepJournal(context.Background()); err != nil || n != 0 {
		t.Errorf("second SweepJournal: %d aborted, %v; want nothing left to do", n, err)
	}
	if obs.swept.Load() != 1 || obs.sweepFailures.Load() != 0 {
		t.Errorf("observer: %d aborted, %d failed sweeps; want 1, 0", obs.swept.Load(), obs.sweepFailures.Load())
	}
}

// createUpload starts a multipart upload of key straight in MinIO and
// returns its ID.
func createUpload(t *testing.T, s *miniotest.Server, bucket, key string) string {
	t.Helper()
	out, err := s.Client().CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.UploadId)
}

// pendingUploads returns the IDs of the pending uploads in bucket by key.
func pendingUploads(t *testing.T, s *miniotest.Server, bucket string) map[string][]string {
	t.Helper()
	out, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, u := range out.Uploads {
		m[aws.ToString(u.Key)] = append(m[aws.ToString(u.Key)], aws.ToString(u.UploadId))
	}
	return m
}

// waitPast waits until this machine's clock is past the moment MinIO says
// upload id was initiated, by more than testSkew: a write that begins
// afterwards began later than that upload.
func waitPast(t *testing.T, s *miniotest.Server, bucket, id string) {
	t.Helper()
	out, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range out.Uploads {
		if aws.ToString(u.UploadId) == id {
			at := aws.ToTime(u.Initiated)
			waitFor(t, func() bool { return time.Since(at) > 10*testSkew })
			return
		}
	}
	t.Fatalf("upload %s not listed", id)
}

func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// exitedPID returns the pid of a process that has exited.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

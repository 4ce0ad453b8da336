package scan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// An HTTP origin reached through the rules and the real mirror: some keys
// answer 500; the run ends incomplete with a manifest, and the manifest fed
// back completes the copy once the origin recovers.
func TestKeysHTTPOriginThroughMirror(t *testing.T) {
	s := miniotest.Get(t)
	for _, target := range []struct{ name, url string }{{"file", fileURL(t)}, {"minio", s.BucketURL(t)}} {
		t.Run(target.name, func(t *testing.T) {
			keys := []string{"img/a.jpg", "img/b c.jpg", "unicodé.txt", "plus+sign", "per%25cent-literal", "broken/1", "broken/2"}
			var mu sync.Mutex
			broken := true
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				key := strings.TrimPrefix(r.URL.Path, "/")
				mu.Lock()
				b := broken
				mu.Unlock()
				if b && strings.HasPrefix(key, "broken/") {
					http.Error(w, "boom", http.StatusInternalServerError)
					return
				}
				if key == "gone" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "text/x-origin")
				w.Write(content(key))
			}))
			defer origin.Close()
			set, err := rules.Parse(strings.NewReader("- origin: " + origin.URL + "/\n"))
			if err != nil {
				t.Fatal(err)
			}
			dst := open(t, target.url)
			state := t.TempDir()
			list := strings.Join(append(append([]string{}, keys...), "gone"), "\n") + "\n"
			o := Options{Target: dst, Keys: strings.NewReader(list), Rules: set, StateDir: state, Retries: 1, RetryBase: time.Millisecond}
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Copied != 5 || res.Failed != 2 || res.Vanished != 1 || res.Complete() || res.Manifest == "" {
				t.Fatalf("first run: %+v %v", res.Stats, res.Failures)
			}
			mu.Lock()
			broken = false
			mu.Unlock()
			f, err := os.Open(res.Manifest)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			o.Keys, o.KeysName = f, res.Manifest
			res, err = Run(context.Background(), o)
			if err != nil || res.Copied != 2 || !res.Complete() {
				t.Fatalf("manifest run: %v %+v", err, res.Stats)
			}
			// A rerun of the whole list copies nothing.
			o.Keys = strings.NewReader(list)
			res, err = Run(context.Background(), o)
			if err != nil || res.Copied != 0 || res.Skipped != int64(len(keys)) {
				t.Fatalf("rerun: %v %+v", err, res.Stats)
			}
			for _, k := range keys {
				b, err := dst.ReadAll(context.Background(), k)
				if err != nil || string(b) != string(content(k)) {
					t.Errorf("%q: %q %v", k, b, err)
				}
			}
		})
	}
}

// The kill -9 test runs the scan in a child process (this test binary,
// re-executed) and kills it at random points.
const childEnv = "FERRY_SCAN_TEST_CHILD"

func init() {
	if os.Getenv(childEnv) == "" {
		return
	}
	parts := strings.SplitN(os.Getenv(childEnv), "\n", 3)
	ctx := context.Background()
	src, err := openBucket(ctx, parts[0], false)
	if err == nil {
		d, derr := openBucket(ctx, parts[1], true)
		err = derr
		if err == nil {
			_, err = Run(ctx, Options{Origin: src, Target: d, StateDir: parts[2], RunID: "kill", Transfers: 8})
			d.Close()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func TestKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := miniotest.Get(t)
	dir := t.TempDir()
	originDir := filepath.Join(dir, "origin")
	const n = 5000
	for i := range n {
		p := filepath.Join(originDir, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("obj-%05d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(strings.Repeat(fmt.Sprint(i), 200))[:64+i%300], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bucket := s.NewBucket(t)
	targetURL := s.URL(bucket, "")
	state := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dst := open(t, targetURL)
	prev := 0
	for round := range 3 {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+"file://"+originDir+"\n"+targetURL+"\n"+state)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		// A PUT whose body was sent before the kill may still complete on
		// the server: count once the target has settled.
		got := len(keysOf(t, dst))
		for settled := false; !settled; {
			time.Sleep(300 * time.Millisecond)
			again := len(keysOf(t, dst))
			settled, got = again == got, again
		}
		t.Logf("round %d: killed with %d objects in the target", round, got)
		if got < prev {
			t.Fatalf("objects disappeared: %d < %d", got, prev)
		}
		prev = got
	}
	if s.PendingUploads(t, bucket) != 0 {
		t.Logf("pending multipart uploads after kill: %d", s.PendingUploads(t, bucket))
	}
	src := open(t, "file://"+originDir)
	start := time.Now()
	defer func() { t.Logf("rerun, finalize and check took %v", time.Since(start)) }()
	res := runScan(t, Options{Origin: src, Target: dst, StateDir: state, RunID: "kill"})
	if res.Failed != 0 || res.Copied != int64(n-prev) || res.Skipped != int64(prev) || res.LostRace != 0 {
		t.Fatalf("rerun after kill: %+v (had %d objects)", res.Stats, prev)
	}
	// The target equals the origin: same keys, same bytes.
	keys := keysOf(t, dst)
	if len(keys) != n {
		t.Fatalf("target has %d keys, want %d", len(keys), n)
	}
	rep, err := Finalize(context.Background(), Options{Origin: src, Target: dst, Checksum: true})
	if err != nil || !rep.Complete || rep.ContentVerified != n {
		t.Fatalf("finalize: %v %+v", err, rep)
	}
	if rc, err := exec.LookPath("rclone"); err == nil {
		cmd := exec.Command(rc, "check", "--config", "/dev/null", originDir, "m:"+bucket)
		cmd.Env = append(os.Environ(), "AWS_CA_BUNDLE=", "RCLONE_CONFIG_M_TYPE=s3", "RCLONE_CONFIG_M_PROVIDER=Minio",
			"RCLONE_CONFIG_M_ENDPOINT="+s.Endpoint, "RCLONE_CONFIG_M_ACCESS_KEY_ID="+miniotest.AccessKey,
			"RCLONE_CONFIG_M_SECRET_ACCESS_KEY="+miniotest.SecretKey, "RCLONE_CONFIG_M_REGION=us-east-1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rclone check: %v\n%s", err, out)
		}
	}
}

func openBucket(ctx context.Context, url string, target bool) (*store.Bucket, error) {
	if target {
		return store.Open(ctx, url)
	}
	return store.OpenOrigin(ctx, url)
}

// Package nginx holds no code: its test runs the example configuration
// ferry-replicas.conf in a real nginx in front of two serve replicas.
package nginx

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/freeport"
	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/serve"
	"github.com/ferry-migrate/ferry/store"
)

const clients = 50

// origin serves one object per path and counts GETs; each body waits until
// the replicas have received every client request, so that all of them are
// in flight while the key is still missing from the target.
type origin struct {
	*httptest.Server
	gets    atomic.Int64
	arrived func() int64
}

func newOrigin(t *testing.T, arrived func() int64) *origin {
	o := &origin{arrived: arrived}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.gets.Add(1)
		deadline := time.Now().Add(30 * time.Second)
		for o.arrived() < clients && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		body := "object " + r.URL.Path
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(o.Close)
	return o
}

// replica is one serve replica with its own mirror over the shared target,
// counting the requests it receives.
type replica struct {
	*httptest.Server
	requests atomic.Int64
}

func newReplica(t *testing.T, target *store.Bucket, set *rules.Set) *replica {
	t.Helper()
	m, err := mirror.New(mirror.Options{Target: target, SpoolDir: t.TempDir(), Via: serve.DefaultVia, IdleTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	srv, err := serve.New(serve.Options{Target: target, Mirror: m, Settings: serve.Settings{Addressing: serve.AddressingDomain, Rules: set}})
	if err != nil {
		t.Fatal(err)
	}
	rp := &replica{}
	h := srv.Handler()
	rp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(rp.Close)
	return rp
}

func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is required in CI (.ci/run installs nginx-light)")
	}
	t.Skip("nginx not installed")
	return ""
}

var (
	serverLine = regexp.MustCompile(`(?m)^\s*server 10\.0\.0\.\d+:8080[^;]*;\n`)
	listenLine = regexp.MustCompile(`(?m)^(\s*)listen 80;`)
	hashLine   = regexp.MustCompile(`(?m)^\s*hash \$request_uri consistent;\n`)
)

// startNginx runs the example configuration with the replicas' addresses
// (and, when roundRobin, without its hash line) and returns its base URL.
func startNginx(t *testing.T, bin string, roundRobin bool, replicas ...*replica) string {
	t.Helper()
	example, err := os.ReadFile("ferry-replicas.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(example)
	if len(serverLine.FindAllString(conf, -1)) != 2 || !listenLine.MatchString(conf) || !hashLine.MatchString(conf) {
		t.Fatal("ferry-replicas.conf: the test no longer finds its server, listen and hash lines")
	}
	var servers strings.Builder
	for _, r := range replicas {
		fmt.Fprintf(&servers, "    server %s;\n", strings.TrimPrefix(r.URL, "http://"))
	}
	conf = serverLine.ReplaceAllString(conf, "")
	conf = strings.Replace(conf, "    keepalive 64;", servers.String()+"    keepalive 64;", 1)
	if roundRobin {
		conf = hashLine.ReplaceAllString(conf, "")
	}
	port := freePort(t)
	conf = listenLine.ReplaceAllString(conf, fmt.Sprintf("${1}listen 127.0.0.1:%d;", port))

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ferry.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/ferry.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen on %s: %s", addr, log)
		}
	}
	return "http://" + addr
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type answer struct {
	status  int
	body    string
	outcome string
	err     error
}

// getAll sends clients concurrent GETs of u and returns their answers.
func getAll(u string) []answer {
	out := make([]answer, clients)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			resp, err := client.Get(u)
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			out[i] = answer{resp.StatusCode, string(b), resp.Header.Get("X-Ferry-Mirror"), err}
		})
	}
	wg.Wait()
	return out
}

// Behind nginx with the example's consistent hashing, 50 concurrent
// requests for one cold key reach one replica and cost one origin GET; the
// same requests spread round robin cost one GET per replica.
func TestReplicasShareOneFill(t *testing.T) {
	bin := nginxBinary(t)
	for _, tc := range []struct {
		name       string
		roundRobin bool
		wantGets   int64
	}{
		{"consistent hash", false, 1},
		{"round robin", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, err := store.Open(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer target.Close()
			var reps [2]*replica
			o := newOrigin(t, func() int64 { return reps[0].requests.Load() + reps[1].requests.Load() })
			set := &rules.Set{Rules: []rules.Rule{{Origin: o.URL + "/", FollowRedirects: true, MirrorHead: true}}}
			reps[0], reps[1] = newReplica(t, target, set), newReplica(t, target, set)
			base := startNginx(t, bin, tc.roundRobin, reps[0], reps[1])

			answers := getAll(base + "/cold/key.bin")
			fills := 0
			for i, a := range answers {
				if a.err != nil || a.status != 200 || a.body != "object /cold/key.bin" {
					t.Fatalf("client %d: %d %q %v", i, a.status, a.body, a.err)
				}
				if a.outcome == "fill" {
					fills++
				} else if a.outcome != "coalesced" {
					t.Errorf("client %d: X-Ferry-Mirror %q", i, a.outcome)
				}
			}
			r0, r1 := reps[0].requests.Load(), reps[1].requests.Load()
			t.Logf("%s: origin GETs %d, replica requests %d/%d, fills %d", tc.name, o.gets.Load(), r0, r1, fills)
			if got := o.gets.Load(); got != tc.wantGets || int64(fills) != tc.wantGets {
				t.Errorf("origin GETs %d, fills %d, want %d", got, fills, tc.wantGets)
			}
			if !tc.roundRobin && r0 != clients && r1 != clients {
				t.Errorf("hashing split one key over the replicas: %d/%d", r0, r1)
			}
			if ok, _ := target.Exists(context.Background(), "cold/key.bin"); !ok {
				t.Error("the key was not stored")
			}
		})
	}
}

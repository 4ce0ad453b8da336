// Package demo runs ferry's whole migration workflow on one machine with
// nothing installed (ferry demo): a live sample origin, and the real
// commands run in-process.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/internal/freeport"
	"github.com/ferry-migrate/ferry/internal/sampleorigin"
	"github.com/ferry-migrate/ferry/store"
)

// Options says what the demo migrates and how it runs the real commands.
type Options struct {
	// Target is the target URL; "" is a directory in the temporary folder.
	Target string
	// Files is the number of cold sample files the origin starts with.
	Files int
	// Keep keeps the temporary folder (origin, target, state, config).
	Keep bool
	// Out receives the demo's narration and each command's output.
	Out io.Writer
	// Ferry runs one ferry invocation in-process (the CLI's own entry
	// point) and returns its exit code.
	Ferry func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// demo holds one run's moving parts.
type demo struct {
	o       Options
	out     io.Writer
	dir     string
	config  string
	origin  *sampleorigin.Origin
	dataURL string // serve's address
	start   time.Time
}

// Run shows the whole workflow on this machine: a live origin, rules add,
// scan, serve with fills, coalescing and hits, finalize and rules clear with
// a live reload, then checks the target byte for byte. It returns an error
// when a step did not do what it shows.
func Run(ctx context.Context, o Options) (err error) {
	d := &demo{o: o, out: o.Out, start: time.Now()}
	d.dir, err = os.MkdirTemp("", "ferry-demo-")
	if err != nil {
		return err
	}
	if o.Keep {
		defer fmt.Fprintf(d.out, "\nkept %s (origin www/, target, state/, ferry.yaml)\n", d.dir)
	} else {
		defer os.RemoveAll(d.dir)
	}
	target := o.Target
	if target == "" {
		target = "file://" + filepath.Join(d.dir, "target")
	}

	defer func() {
		if d.origin != nil {
			d.origin.Close()
		}
	}()
	adminAddr, err := d.prepare(target)
	if err != nil {
		return err
	}

	stopProducing := d.produce(ctx)
	defer stopProducing()

	d.step(1, "add a back-to-origin rule pointing at the origin")
	if err := d.ferry(ctx, "rules", "add", "--name", "www", "--origin", d.origin.URL); err != nil {
		return err
	}
	if err := d.ferry(ctx, "rules", "list"); err != nil {
		return err
	}

	d.step(2, "bulk-copy the cold data while the origin keeps producing")
	originURL := "file://" + d.origin.Dir
	if err := d.ferry(ctx, "scan", "--origin", originURL); err != nil {
		return err
	}

	d.step(3, "cutover: clients now go through ferry serve")
	stop, err := d.startServe(ctx, adminAddr)
	defer stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  $ ferry serve        (listening on %s)\n", d.dataURL)
	if err := d.clientRequests(ctx); err != nil {
		return err
	}

	d.step(4, "production stops; finalize copies what is left and verifies the target")
	stopProducing()
	if err := d.ferry(ctx, "finalize", "--origin", originURL); err != nil {
		return err
	}

	d.step(5, "remove the rules: serve stops going back to the origin, no restart")
	if err := d.ferry(ctx, "rules", "clear", "--yes"); err != nil {
		return err
	}
	if err := d.afterRulesCleared(ctx, "http://"+adminAddr); err != nil {
		return err
	}
	if err := stop(); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  $ kill -TERM serve   (drained, exit 0)\n")

	n, err := d.verify(ctx, target, "late/after-cutover.dat")
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "\ndone in %.1fs: all %d origin objects are in the target with the same bytes; the origin answered %d HTTP requests during cutover.\n",
		time.Since(d.start).Seconds(), n, d.origin.Requests())
	fmt.Fprintf(d.out, "Next: read docs/runbook.md, then try it on your data with your own ferry.yaml.\n")
	return nil
}

// prepare starts the sample origin with its cold files, writes the demo's
// ferry.yaml (serve on two free loopback ports) and prints what the demo
// migrates; it returns serve's admin address.
func (d *demo) prepare(target string) (string, error) {
	var err error
	if d.origin, err = sampleorigin.Start(filepath.Join(d.dir, "www")); err != nil {
		return "", fmt.Errorf("demo origin: %w", err)
	}
	if _, err := d.origin.Generate("cold/", d.o.Files, 64<<10); err != nil {
		return "", fmt.Errorf("demo origin: %w", err)
	}
	dataAddr, err := FreeAddr()
	if err != nil {
		return "", err
	}
	adminAddr, err := FreeAddr()
	if err != nil {
		return "", err
	}
	d.dataURL = "http://" + dataAddr
	d.config = filepath.Join(d.dir, "ferry.yaml")
	cfg := fmt.Sprintf(`# written by ferry demo
target: %s
state_dir: %s
log_level: warn
serve:
  listen: %s
  admin_listen: %s
  reload_interval: 200ms
  access_log: false
`, target, filepath.Join(d.dir, "state"), dataAddr, adminAddr)
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		return "", err
	}

	fmt.Fprintf(d.out, "ferry demo: a live migration on one machine\n")
	fmt.Fprintf(d.out, "  origin   %s  (serving %s, %d cold files, a new hot/ file every 50ms)\n", d.origin.URL, d.origin.Dir, d.o.Files)
	fmt.Fprintf(d.out, "  target   %s\n", target)
	fmt.Fprintf(d.out, "  config   %s\n", d.config)
	return adminAddr, nil
}

// produce makes the origin write a new hot/ file every 50ms, like an
// application still uploading, until the returned stop (idempotent) is called.
func (d *demo) produce(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = d.origin.Produce(ctx, "hot/", 50*time.Millisecond, 16<<10)
	}()
	return func() { cancel(); wg.Wait() }
}

// startServe runs ferry serve in-process until it is ready. stop ends it
// (once; later calls do nothing) and fails unless it drained and exited 0.
func (d *demo) startServe(ctx context.Context, adminAddr string) (stop func() error, err error) {
	serveCtx, stopServe := context.WithCancel(ctx)
	serveDone := make(chan int, 1)
	var serveOut bytes.Buffer
	go func() {
		serveDone <- d.o.Ferry(serveCtx, []string{"serve", "--config", d.config}, strings.NewReader(""), &serveOut, &serveOut)
	}()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopServe()
		select {
		case code := <-serveDone:
			if code != 0 {
				return fmt.Errorf("ferry serve exited %d:\n%s", code, serveOut.String())
			}
			return nil
		case <-time.After(60 * time.Second):
			return errors.New("serve did not stop within 60s")
		}
	}
	return stop, WaitHTTP(ctx, "http://"+adminAddr+"/readyz", serveDone, &serveOut)
}

func (d *demo) step(n int, what string) {
	fmt.Fprintf(d.out, "\n[%d] %s\n", n, what)
}

// ferry runs one real ferry command in-process with the demo's config and
// prints what it printed, indented.
func (d *demo) ferry(ctx context.Context, args ...string) error {
	fmt.Fprintf(d.out, "  $ ferry %s\n", strings.Join(args, " "))
	var out bytes.Buffer
	code := d.o.Ferry(ctx, append(args, "--config", d.config), strings.NewReader(""), &out, &out)
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line != "" {
			fmt.Fprintf(d.out, "    %s\n", line)
		}
	}
	if code != 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("demo: ferry %s exited %d", args[0], code)
	}
	return nil
}

// get sends one client GET through serve and returns status, mirror outcome
// and body length.
func (d *demo) get(ctx context.Context, key string) (int, string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.dataURL+"/"+key, nil)
	if err != nil {
		return 0, "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, "", 0, fmt.Errorf("GET %s: body: %w", key, err)
	}
	return resp.StatusCode, resp.Header.Get("X-Ferry-Mirror"), int(n), nil
}

func (d *demo) show(ctx context.Context, key, want string) error {
	st, how, n, err := d.get(ctx, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  GET /%-20s %d  X-Ferry-Mirror: %-9s %6d bytes\n", key, st, how, n)
	if want != "" && how != want {
		return fmt.Errorf("demo: GET %s answered %q, want %q", key, how, want)
	}
	return nil
}

// waitHit waits until key is stored in the target (serve answers hit).
func (d *demo) waitHit(ctx context.Context, key string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, d.dataURL+"/"+key, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.Header.Get("X-Ferry-Mirror") == "hit" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: %s not stored 60s after its fill", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clientRequests shows fills, coalescing, hits and a miss.
func (d *demo) clientRequests(ctx context.Context) error {
	before := len(d.origin.Written())
	// Wait for three files the scan cannot have seen.
	var fresh []string
	for len(fresh) < 3 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(60 * time.Millisecond):
		}
		w := d.origin.Written()
		fresh = w[before:]
	}
	fresh = fresh[:3]
	cold := "cold/000001.dat"

	fmt.Fprintln(d.out, "  a fresh key is fetched from the origin, streamed and stored (fill), then served from the target (hit):")
	if err := d.show(ctx, fresh[0], "fill"); err != nil {
		return err
	}
	// The fill commits to the target just after the last byte reaches the
	// client; a request in that instant joins the finishing fill instead.
	if err := d.waitHit(ctx, fresh[0]); err != nil {
		return err
	}
	if err := d.show(ctx, fresh[0], "hit"); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "  two clients ask for the same fresh key at once: one origin request serves both:")
	shared := "hot/shared.dat"
	if err := d.origin.Put(shared, 32<<10); err != nil {
		return err
	}
	reqBefore := d.origin.Requests()
	outcomes, err := d.getTogether(ctx, shared)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  GET /%s x2  X-Ferry-Mirror: %s, %s  (origin requests: %d)\n",
		shared, outcomes[0], outcomes[1], d.origin.Requests()-reqBefore)
	fmt.Fprintln(d.out, "  cold data copied by scan is a hit; a key the origin lacks is 404:")
	if err := d.show(ctx, cold, "hit"); err != nil {
		return err
	}
	st, how, _, err := d.get(ctx, "no/such-file.dat")
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  GET /%-20s %d  X-Ferry-Mirror: %s (the origin said 404)\n", "no/such-file.dat", st, how)
	if st != http.StatusNotFound {
		return fmt.Errorf("demo: missing key answered %d, want 404", st)
	}
	return nil
}

// getTogether sends two GETs for key while the origin holds the fill's body
// halfway (a slow origin), so the second one surely arrives during the fill:
// both have their response headers before the origin sends the rest. It
// returns both X-Ferry-Mirror outcomes once both bodies arrived whole.
func (d *demo) getTogether(ctx context.Context, key string) ([2]string, error) {
	var outcomes [2]string
	release := d.origin.Hold(key)
	defer release()
	var resps []*http.Response
	defer func() {
		for _, r := range resps {
			r.Body.Close()
		}
	}()
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.dataURL+"/"+key, nil)
		if err != nil {
			return outcomes, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return outcomes, err
		}
		resps = append(resps, resp)
	}
	release()
	for i, resp := range resps {
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || n != resp.ContentLength {
			return outcomes, fmt.Errorf("demo: GET %s: status %d, %d bytes, %v", key, resp.StatusCode, n, err)
		}
		outcomes[i] = resp.Header.Get("X-Ferry-Mirror")
	}
	return outcomes, nil
}

// afterRulesCleared shows that serve picked up the rule change without a
// restart (its ferry_serve_rules gauge drops to 0): a key the origin has but
// the target lacks is now 404, and the origin is not contacted.
func (d *demo) afterRulesCleared(ctx context.Context, adminURL string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := MetricValue(ctx, adminURL+"/metrics", "ferry_serve_rules")
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: serve did not reload the cleared rules within 60s (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(d.out, "  serve reloaded the config: ferry_serve_rules 0")
	key := "late/after-cutover.dat"
	if err := d.origin.Put(key, 100); err != nil {
		return err
	}
	before := d.origin.Requests()
	st, how, _, err := d.get(ctx, key)
	if err != nil {
		return err
	}
	if how == "" {
		how = "-"
	}
	fmt.Fprintf(d.out, "  GET /%s %d  X-Ferry-Mirror: %s  (no rule; origin requests: %d)\n", key, st, how, d.origin.Requests()-before)
	if st != http.StatusNotFound || d.origin.Requests() != before {
		return fmt.Errorf("demo: serve still went back to the origin after rules clear (status %d)", st)
	}
	return nil
}

// MetricValue reads one unlabelled gauge or counter from a Prometheus text page.
func MetricValue(ctx context.Context, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			_, err := fmt.Sscan(rest, &v)
			return v, err
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// verify checks that every origin object except skip is in the target with
// the same content, and returns how many there are.
func (d *demo) verify(ctx context.Context, target, skip string) (int, error) {
	b, err := store.Open(ctx, target)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	keys, err := d.origin.Keys()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if k == skip {
			continue
		}
		want, err := os.ReadFile(filepath.Join(d.origin.Dir, filepath.FromSlash(k)))
		if err != nil {
			return 0, err
		}
		got, err := b.ReadAll(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("demo: verify %s: %w", k, err)
		}
		if !bytes.Equal(got, want) {
			return 0, fmt.Errorf("demo: verify %s: target content differs from the origin", k)
		}
		n++
	}
	return n, nil
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) { return freeport.Addr() }

// WaitHTTP polls url until it answers 200, serve exits, or 60s pass (a
// loaded machine can be slow to start serve).
func WaitHTTP(ctx context.Context, url string, exited <-chan int, out fmt.Stringer) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-exited:
			return fmt.Errorf("demo: ferry serve exited %d:\n%s", code, stringOf(out))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("demo: ferry serve not ready after 60s:\n%s", stringOf(out))
}

func stringOf(s fmt.Stringer) string {
	if s == nil {
		return ""
	}
	return s.String()
}

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/miniotest"
)

// TestServeKilledMidFill: serve is SIGKILLed while three large fills (one
// read by two clients) are half-way (the origin holds them there): every client sees a broken transfer,
// no object appears, the spool files vanish with the process (they only
// ever existed as open, unlinked files), and a new serve fetches each key
// again and stores it whole.
func TestServeKilledMidFill(t *testing.T) {
	long(t)
	t.Parallel()
	w := newWorld(t, miniotest.Get(t))
	const size = 8 << 20 // below the multipart size: TestServeKilledMidUpload has that
	uniq := []string{"k/big-0", "k/big-1", "k/big-2"}
	for _, k := range uniq {
		w.put(k, size, false)
	}
	reqs := append(append([]string(nil), uniq...), uniq[2]) // big-2 is read twice
	var releases []func()
	for _, k := range uniq {
		release := w.origin.Hold(k) // the origin sends half of each body, then holds
		defer release()
		releases = append(releases, release)
	}
	p := w.startServe()

	// Every client has a quarter of its object, and the origin holds each
	// fill at half, when serve dies (the commit has not sent anything yet:
	// the S3 writer buffers up to 16 MiB before it picks a single PUT or a
	// multipart upload).
	var ty tally
	started := make(chan struct{}, len(reqs))
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for _, k := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			a := get(context.Background(), client, p.data+"/"+k, size/4, func() { started <- struct{}{}; <-killed })
			ty.add(judge(k, w.content(k), a))
		}()
	}
	for range reqs {
		select {
		case <-started:
		case <-time.After(120 * time.Second):
			t.Fatal("clients did not get a quarter of their objects within 120s")
		}
	}
	if n, err := p.metric("ferry_mirror_fills_in_flight"); err != nil || n != float64(len(uniq)) {
		t.Fatalf("fills in flight before the kill: %v, %v (want %d); clients %v\n%s", n, err, len(uniq), ty.String(), p.out.String())
	}
	openSpool := spoolFds(t, p.cmd.Process.Pid, w.spool)
	p.kill()
	close(killed)
	wg.Wait()
	for _, release := range releases {
		release()
	}

	ty.check(t)
	if n := ty.count("200 aborted"); n != len(reqs) {
		t.Errorf("%d of %d clients saw a broken transfer when serve was killed: %v", n, len(reqs), ty.String())
	}
	left, _ := os.ReadDir(w.spool)
	t.Logf("killed mid-fill: clients %v; spool files open before the kill %v, left in the spool dir %d",
		ty.String(), openSpool, len(left))
	if len(openSpool) != len(uniq) {
		t.Errorf("serve had %d spool files open for %d fills: %v", len(openSpool), len(uniq), openSpool)
	}
	if len(left) != 0 {
		t.Errorf("spool dir holds %d files after the kill", len(left))
	}
	if n := w.assertWhole("k/"); n != 0 {
		t.Errorf("%d objects stored by fills that were killed half-way", n)
	}

	p2 := w.startServe()
	before := w.origin.Requests()
	var again tally
	for _, want := range []string{"200 fill", "200 hit"} {
		for _, k := range uniq {
			a := get(context.Background(), http.DefaultClient, p2.data+"/"+k, 0, nil)
			outcome, problem := judge(k, w.content(k), a)
			again.add(outcome, problem)
			if outcome != want {
				t.Errorf("GET %s after the restart: %s, want %s", k, outcome, want)
			}
		}
		p2.settle()
	}
	again.check(t)
	if n := w.origin.Requests() - before; n != int64(len(uniq)) {
		t.Errorf("the new serve sent %d origin requests for %d keys, want one each", n, len(uniq))
	}
	if n := w.assertWhole("k/"); n != len(uniq) {
		t.Errorf("%d of %d objects stored after the restart", n, len(uniq))
	}
	p2.stop()
}

// spoolFds lists the files in spool that process pid holds open (spool
// files are unlinked at creation, so they show as "(deleted)").
func spoolFds(t *testing.T, pid int, spool string) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var open []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(target, spool+string(filepath.Separator)) {
			open = append(open, filepath.Base(target))
		}
	}
	return open
}

// TestServeKilledMidUpload: serve is SIGKILLed while a fill's multipart
// upload into MinIO is under way (the body is complete, the target link is
// slow): no object appears; the new serve aborts the upload the killed one
// began (its journal says which fill was in flight) before it is ready, and
// then fetches the key again and stores it whole.
func TestServeKilledMidUpload(t *testing.T) {
	long(t)
	t.Parallel()
	w := newWorld(t, miniotest.Get(t))
	const key, size = "u/big", 17 << 20 // above the 16 MiB multipart threshold
	w.put(key, size, false)
	// Slow enough that the upload surely runs when the GET has ended, even
	// on a loaded machine; serve is killed as soon as the upload is seen.
	toxic(t, w.toTarget, "slow-put", "bandwidth", "upstream", map[string]any{"rate": 128})
	p := w.startServe()
	a := get(context.Background(), http.DefaultClient, p.data+"/"+key, 0, nil)
	if outcome, problem := judge(key, w.content(key), a); problem != nil || outcome != "200 fill" {
		t.Fatalf("first GET: %s %v", outcome, problem)
	}
	deadline := time.Now().Add(120 * time.Second)
	for w.minio.PendingUploads(t, w.bucket) == 0 {
		if n, err := p.metric("ferry_mirror_fills_in_flight"); err == nil && n == 0 {
			t.Fatalf("the fill ended before its multipart upload was seen\n%s", p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no multipart upload after 120s\n%s", p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.kill()
	untoxic(t, w.toTarget, "slow-put")
	if n := w.assertWhole("u/"); n != 0 {
		t.Fatalf("%d objects stored by a fill killed during its upload", n)
	}
	left := w.minio.PendingUploads(t, w.bucket)
	p2 := w.startServe()
	if n := w.minio.PendingUploads(t, w.bucket); n != 0 {
		t.Errorf("%d multipart uploads pending once the new serve is ready (the killed one left %d)\n%s", n, left, p2.out.String())
	}
	if n, err := p2.metric("ferry_mirror_orphaned_uploads_aborted_total"); err != nil || n != float64(left) {
		t.Errorf("ferry_mirror_orphaned_uploads_aborted_total %v, %v; want %d", n, err, left)
	}
	t.Logf("killed during the upload: %d multipart upload(s) left pending, aborted by the new serve at startup", left)
	before := w.origin.Requests()
	if outcome, problem := judge(key, w.content(key), get(context.Background(), http.DefaultClient, p2.data+"/"+key, 0, nil)); problem != nil || outcome != "200 fill" {
		t.Fatalf("GET after the restart: %s %v", outcome, problem)
	}
	p2.settle()
	if n := w.origin.Requests() - before; n != 1 {
		t.Errorf("%d origin requests after the restart, want 1", n)
	}
	if n := w.assertWhole("u/"); n != 1 {
		t.Errorf("%d objects after the refetch, want 1", n)
	}
	w.assertNoUploads()
	p2.stop()
}

package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/demo"
)

// TestDemo runs `ferry demo` as a user would and checks that each step of
// the migration happened: scan copied the cold files, serve filled, coalesced
// and hit, finalize reported complete, and after rules clear serve answered
// 404 without contacting the origin.
func TestDemo(t *testing.T) {
	dir := isolate(t)
	code, out, errOut := ferryIn(t, dir, "demo", "--files", "50")
	if code != exitOK {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"$ ferry rules add",
		"X-Ferry-Mirror: fill",
		"X-Ferry-Mirror: hit",
		"finalize: target COMPLETE",
		"still missing       0",
		"ferry_serve_rules 0",
		"404  X-Ferry-Mirror: -  (no rule; origin requests: 0)",
		"drained, exit 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q\n%s", want, out)
		}
	}
	// scan copies the 50 cold files and the hot ones produced so far.
	m := regexp.MustCompile(`scan \(list\): (\d+) keys, copied (\d+) `).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || atoi(m[2]) < 50 {
		t.Errorf("demo scan did not copy every listed key (at least the 50 cold files):\n%s", out)
	}
	if !regexp.MustCompile(`x2  X-Ferry-Mirror: (fill, coalesced|coalesced, fill)  \(origin requests: 1\)`).MatchString(out) {
		t.Errorf("demo did not show two clients sharing one fill:\n%s", out)
	}
	if !regexp.MustCompile(`all \d+ origin objects are in the target`).MatchString(out) {
		t.Errorf("demo did not verify the target:\n%s", out)
	}
}

func TestDemoBadFlag(t *testing.T) {
	dir := isolate(t)
	if code, _, _ := ferryIn(t, dir, "demo", "--files", "0"); code != exitUsage {
		t.Fatalf("demo --files 0 exited %d, want 2", code)
	}
}

// freeAddr is a loopback address for a test server.
func freeAddr() (string, error) { return demo.FreeAddr() }

// waitHTTP and metricValue are the demo's, for the end-to-end test.
var (
	waitHTTP    = demo.WaitHTTP
	metricValue = demo.MetricValue
)

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

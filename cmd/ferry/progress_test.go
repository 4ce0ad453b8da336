package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/schollz/progressbar/v3"
)

// TestProgressBar: while the listing grows the total the bar shows the rate
// in MiB/s and no ETA; once the listing is done it shows an ETA.
func TestProgressBar(t *testing.T) {
	buf := &syncBuffer{} // the bar's spinner writes from its own goroutine (e2e_test.go)
	p := &progress{bar: newBar(buf, "scan", progressbar.OptionThrottle(0), progressbar.OptionSetWidth(20)), start: time.Now().Add(-2 * time.Second), what: "scan"}
	defer p.bar.Finish() // stops the spinner
	p.Update(scan.Stats{Listed: 100, ListedBytes: 100 << 20, Copied: 10, CopiedBytes: 10 << 20})
	growing := buf.String()
	if !strings.Contains(growing, "MiB/s") || !strings.Contains(growing, "100.0 MiB+") {
		t.Errorf("growing bar lacks the rate or the open total: %q", growing)
	}
	if strings.Contains(growing, "%") || strings.Contains(growing, ":") {
		t.Errorf("growing bar shows a share or an ETA: %q", growing)
	}
	buf.mu.Lock()
	buf.b.Reset()
	buf.mu.Unlock()
	p.Update(scan.Stats{Listed: 100, ListedBytes: 100 << 20, Copied: 20, CopiedBytes: 20 << 20, ListingDone: true})
	known := buf.String()
	t.Logf("growing: %q\nknown: %q", growing, known)
	if !strings.Contains(known, "20%") || !strings.Contains(known, ":") {
		t.Errorf("bar with a known total lacks the share or the ETA: %q", known)
	}
}

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress shows a scan's progress: on a terminal a bar with objects, bytes
// and MiB/s, a spinner without an ETA while the listing still grows the
// total, a bar with an ETA once it is known; a log line every interval
// otherwise.
type progress struct {
	bar      *progressbar.ProgressBar
	log      *slog.Logger
	interval time.Duration
	last     time.Time
	start    time.Time
	what     string
}

func newProgress(w io.Writer, log *slog.Logger, what string, quiet bool) scan.Progress {
	if quiet {
		return scan.NoProgress{}
	}
	p := &progress{log: log, interval: 10 * time.Second, start: time.Now(), last: time.Now(), what: what}
	if isTerminal(w) {
		p.bar = newBar(w, what)
	}
	return p
}

// newBar is the terminal bar, on an unknown total (no ETA) until the listing
// is done; extra options override the defaults.
func newBar(w io.Writer, what string, extra ...progressbar.Option) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1, append([]progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetVisibility(true),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("obj"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth(),
	}, extra...)...)
}

func (p *progress) Update(s scan.Stats) {
	done := s.Processed()
	if p.bar != nil {
		p.bar.Describe(p.describe(s, time.Since(p.start)))
		if (s.ListingDone || s.Final) && p.bar.GetMax64() != max(s.Listed, done) {
			p.bar.ChangeMax64(max(s.Listed, done)) // the total is known: a bar with an ETA
		}
		_ = p.bar.Set64(done)
		if s.Final {
			_ = p.bar.Finish()
		}
		return
	}
	if s.Final || time.Since(p.last) < p.interval {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	p.log.Info(p.what+" progress", "listed", s.Listed, "listing_done", s.ListingDone,
		"copied", s.Copied, "skipped", s.Skipped, "failed", s.Failed,
		"bytes", s.CopiedBytes, "objects_per_s", fmt.Sprintf("%.0f", float64(done)/el),
		"mib_per_s", fmt.Sprintf("%.1f", float64(s.CopiedBytes)/el/(1<<20)))
}

// describe is the text before the bar: bytes done of bytes listed (the
// listing's total still growing is marked "+") and the copy rate.
func (p *progress) describe(s scan.Stats, elapsed time.Duration) string {
	total := scan.FormatBytes(s.ListedBytes)
	if !s.ListingDone && !s.Final {
		total += "+"
	}
	rate := float64(s.CopiedBytes) / max(elapsed.Seconds(), 1e-3) / (1 << 20)
	return fmt.Sprintf("%s %s/%s %.1f MiB/s", p.what, scan.FormatBytes(s.ProcessedBytes()), total, rate)
}

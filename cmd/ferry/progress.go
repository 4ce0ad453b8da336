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

// progress shows a scan's progress: a bar (objects, bytes, rate, ETA; the
// total grows as the listing advances) on a terminal, a log line every
// interval otherwise.
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
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetVisibility(true),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("obj"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionFullWidth(),
		)
	}
	return p
}

func (p *progress) Update(s scan.Stats) {
	done := s.Processed()
	if p.bar != nil {
		if s.ListingDone || s.Final {
			p.bar.ChangeMax64(max(s.Listed, done))
		} else {
			p.bar.ChangeMax64(max(s.Listed, done) + 1) // keep it growing until the listing ends
		}
		p.bar.Describe(fmt.Sprintf("%s %s/%s", p.what, human(s.ProcessedBytes()), human(s.ListedBytes)))
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

// human formats a byte count.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

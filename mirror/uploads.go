package mirror

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ferry-migrate/ferry/store"
)

// Sweeping orphaned multipart uploads. The SDK aborts the upload of a write
// that fails, except when it cannot: the answer to CreateMultipartUpload
// was lost (the upload ID never came back), the abort failed too (the
// target's link is still down), or the process died. Such an upload stays
// pending in the target, invisible but billed. The mirror then aborts the
// uploads of exactly that key initiated while its own write ran (give or
// take the clock skew between ferry and the target), and never an older
// one: another writer's upload of the same key that began before this
// write is kept.
const (
	defaultUploadSkew = 5 * time.Second
	// uploadSettle gives the target a moment to finish creating an upload
	// whose answer was lost before the sweep lists the key.
	uploadSettle        = 200 * time.Millisecond
	uploadSweepTimeout  = 30 * time.Second // one key's sweep, retries included
	uploadSweepAttempt  = 5 * time.Second
	journalSweepTimeout = 60 * time.Second // the startup sweep (SweepJournal)
	// journalSweepTail bounds how much of the journal SweepJournal reads:
	// the fills a process had in flight when it died are near the end.
	journalSweepTail = 64 << 20
)

// sweepAfter aborts what a failed write of key that began at began may
// have left pending. A write that handed the writer fewer than
// store.MultipartThreshold bytes created no upload. It runs on a context of
// its own (ctx may be the reason the write failed), which Shutdown cancels
// as it cancels fills, and only logs and counts: the write's own error is
// what the caller returns.
func (m *Mirror) sweepAfter(ctx context.Context, key string, began time.Time, n int64) {
	if !m.opts.Target.HasUploads() || n < store.MultipartThreshold {
		return
	}
	ended := time.Now()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), uploadSweepTimeout)
	defer cancel()
	stop := context.AfterFunc(m.base, cancel)
	defer stop()
	aborted, err := m.abortUploads(sctx, key, began, ended)
	m.reportSweep(key, aborted, err)
}

// abortUploads aborts the uploads of key initiated within [from, to]
// (widened by the allowed skew), retrying transient failures with backoff
// until ctx is done. It returns how many it aborted.
func (m *Mirror) abortUploads(ctx context.Context, key string, from, to time.Time) (int, error) {
	skew := m.opts.uploadSkew
	from, to = from.Add(-skew), to.Add(skew)
	total := 0
	delay := uploadSettle
	for {
		select {
		case <-ctx.Done():
			return total, fmt.Errorf("abort uploads of %q: %w", key, ctx.Err())
		case <-time.After(delay):
		}
		actx, cancel := context.WithTimeout(ctx, uploadSweepAttempt)
		n, err := m.opts.Target.AbortUploads(actx, key, from, to)
		cancel()
		total += n
		if err == nil || !store.IsTemporary(err) || ctx.Err() != nil {
			return total, err
		}
		delay = min(2*delay, 4*time.Second)
	}
}

// reportSweep logs and counts one key's sweep.
func (m *Mirror) reportSweep(key string, aborted int, err error) {
	m.opts.Observer.UploadsSwept(aborted, err)
	switch {
	case err != nil:
		m.log.Warn("orphaned multipart uploads could not be swept; a lifecycle rule (AbortIncompleteMultipartUpload) removes them",
			"key", key, "aborted", aborted, "err", err)
	case aborted > 0:
		m.log.Info("aborted orphaned multipart uploads", "key", key, "aborted", aborted)
	}
}

// SweepJournal aborts the multipart uploads left behind by serve processes
// that died (SIGKILL, OOM, power loss) with fills in flight, and returns how
// many it aborted. Such a fill wrote a started line (ResultStarted) to the
// journal and no outcome; its process (the line's pid) is gone, or it is
// this process's pid under another run (a restarted container). The
// uploads of its key initiated since the fill began are aborted, and an
// outcome line (failed) is appended for it, so finalize retries the key and
// the next sweep skips it. Only the last journalSweepTail bytes of the
// journal are read. Call it before serving: a fill of this process could
// otherwise be mistaken for the dead one's. Nothing to do without a journal
// or for targets without uploads. Errors are per key and joined; each is
// logged and counted.
func (m *Mirror) SweepJournal(ctx context.Context) (int, error) {
	j := m.opts.Journal
	if j == nil || !m.opts.Target.HasUploads() {
		return 0, nil
	}
	dead, err := deadFills(j)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, journalSweepTimeout)
	defer cancel()
	now := time.Now()
	total := 0
	var errs []error
	for _, e := range dead {
		kctx, kcancel := context.WithTimeout(ctx, uploadSweepTimeout)
		aborted, err := m.abortUploads(kctx, e.Key, e.Time, now)
		kcancel()
		m.reportSweep(e.Key, aborted, err)
		total += aborted
		if err != nil {
			errs = append(errs, err)
			continue // the next sweep tries again
		}
		end := Entry{Key: e.Key, Rule: e.Rule, Origin: e.Origin, Result: OutcomeFailed, Run: e.Run, PID: e.PID,
			Error: fmt.Sprintf("interrupted: serve (pid %d) ended during this fill; %d multipart upload(s) aborted", e.PID, aborted)}
		if err := j.Append(end); err != nil {
			errs = append(errs, err)
		}
	}
	if len(dead) > 0 {
		m.log.Info("swept the uploads of fills interrupted by a dead serve", "fills", len(dead), "aborted", total)
	}
	return total, errors.Join(errs...)
}

// deadFills returns the started lines in the tail of j's file that have no
// outcome from the same run and whose process is gone.
func deadFills(j *Journal) ([]Entry, error) {
	type fillID struct{ run, key string }
	open := map[fillID]Entry{}
	var order []fillID
	err := readJournalTail(j.path, journalSweepTail, func(e Entry) {
		if e.Run == "" {
			return // written before runs were journaled
		}
		id := fillID{e.Run, e.Key}
		if e.Result != ResultStarted {
			delete(open, id)
			return
		}
		if _, ok := open[id]; !ok {
			order = append(order, id)
		}
		open[id] = e
	})
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var dead []Entry
	for _, id := range order {
		e, ok := open[id]
		if !ok || e.Run == j.run || (e.PID != self && processAlive(e.PID)) {
			continue
		}
		dead = append(dead, e)
		delete(open, id) // a key started twice in one run counts once
	}
	return dead, nil
}

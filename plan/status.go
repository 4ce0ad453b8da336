package plan

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
	"golang.org/x/sync/errgroup"
)

// Partition states in a status.
const (
	PartPending   = "pending"   // never claimed
	PartRunning   = "running"   // a worker beats its claim
	PartAbandoned = "abandoned" // its worker stopped beating: claimable again
	PartFailed    = "failed"    // the last attempt failed
	PartDone      = "done"      // a completion marker exists
)

// PartStatus is one partition in a status.
type PartStatus struct {
	Index    int     `json:"index"`
	State    string  `json:"state"`
	Attempts int     `json:"attempts"`
	Worker   string  `json:"worker,omitempty"`
	Error    string  `json:"error,omitempty"`
	Marker   *Marker `json:"marker,omitempty"`
	// Copied sums what every attempt at the partition copied.
	Copied      int64 `json:"copied"`
	CopiedBytes int64 `json:"copied_bytes"`
	// Failed is the failed keys of the last attempt, when it ran to its end.
	Failed int64 `json:"failed_keys,omitempty"`
}

// Status is the state of a plan across all its workers.
type Status struct {
	Plan       string         `json:"plan"`
	Kind       string         `json:"kind"`
	Partitions int            `json:"partitions"`
	Counts     map[string]int `json:"counts"` // partitions by state
	// Complete: every partition is done. FailedKeys may still be > 0:
	// finalize --plan retries them.
	Complete bool          `json:"complete"`
	Planned  scan.Workload `json:"planned"`
	// Totals sums the counts of the completion markers (each partition once).
	Totals scan.Stats `json:"totals"`
	// Copied is every object any attempt copied (each once: writes are
	// create-only, so a later attempt finds it present).
	Copied      int64 `json:"copied"`
	CopiedBytes int64 `json:"copied_bytes"`
	// FailedKeys are the failed keys of the partitions not done.
	FailedKeys int64 `json:"failed_keys"`
	// Rate is the measured copy rate of the done partitions; Remaining the
	// estimate of the partitions not done at that rate.
	Rate      scan.Rates    `json:"rate"`
	Remaining scan.Estimate `json:"remaining"`
	Parts     []PartStatus  `json:"partition_states"`
}

// ReadStatus reads every claim and marker of the plan in st (16 at a time).
func ReadStatus(ctx context.Context, st *State, prices scan.Prices) (*Status, error) {
	p, err := st.Load(ctx)
	if err != nil {
		return nil, err
	}
	done, err := st.doneParts(ctx)
	if err != nil {
		return nil, err
	}
	claims, err := st.allClaims(ctx)
	if err != nil {
		return nil, err
	}
	s := &Status{Plan: st.name, Kind: p.Kind, Partitions: len(p.Partitions), Counts: map[string]int{}, Planned: p.Totals,
		Parts: make([]PartStatus, len(p.Partitions))}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	now := time.Now()
	for i := range p.Partitions {
		g.Go(func() error {
			ps, err := st.partStatus(gctx, i, done[i], claims[i], now)
			mu.Lock()
			s.Parts[i] = ps
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	s.sum(p, prices)
	return s, nil
}

func (st *State) partStatus(ctx context.Context, i int, done bool, attempts []int, now time.Time) (PartStatus, error) {
	ps := PartStatus{Index: i, State: PartPending, Attempts: len(attempts)}
	var last *Claim
	for _, a := range attempts {
		c, err := st.claim(ctx, i, a)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return ps, err
		}
		if c.Stats != nil {
			ps.Copied += c.Stats.Copied
			ps.CopiedBytes += c.Stats.CopiedBytes
		}
		if last == nil || c.Attempt > last.Attempt {
			last = c
		}
	}
	if done {
		m, err := st.marker(ctx, i)
		if err != nil {
			return ps, err
		}
		ps.State, ps.Marker, ps.Worker = PartDone, m, m.Worker
		return ps, nil
	}
	if last == nil {
		return ps, nil
	}
	ps.Worker, ps.Error = last.Worker, last.Error
	if last.Stats != nil {
		ps.Failed = last.Stats.Failed
	}
	switch {
	case last.abandoned(now):
		ps.State = PartAbandoned
	case last.State == StateRunning:
		ps.State = PartRunning
	default:
		ps.State = PartFailed
	}
	return ps, nil
}

// sum adds the counts, the measured rate and the estimate of what is left.
func (s *Status) sum(p *Plan, prices scan.Prices) {
	var left scan.Workload
	var busy float64
	for i, ps := range s.Parts {
		s.Counts[ps.State]++
		s.Copied += ps.Copied
		s.CopiedBytes += ps.CopiedBytes
		s.FailedKeys += ps.Failed
		if ps.Marker == nil {
			left.Merge(p.Partitions[i].Work)
			continue
		}
		t, m := &s.Totals, ps.Marker.Stats
		t.Listed += m.Listed
		t.ListedBytes += m.ListedBytes
		t.Copied += m.Copied
		t.CopiedBytes += m.CopiedBytes
		t.Skipped += m.Skipped
		t.SkippedBytes += m.SkippedBytes
		t.LostRace += m.LostRace
		t.Failed += m.Failed
		t.Vanished += m.Vanished
		t.SizeMismatch += m.SizeMismatch
		t.Checks += m.Checks
		t.Retries += m.Retries
		t.Unlisted += m.Unlisted
		busy += ps.Marker.Seconds
	}
	s.Complete = s.Counts[PartDone] == s.Partitions
	if busy > 0 {
		// Per worker: the rate of one partition at a time.
		s.Rate = scan.Rates{ObjectsPerSec: float64(s.Totals.Processed()) / busy, BytesPerSec: float64(s.Totals.ProcessedBytes()) / busy, Measured: true}
	}
	s.Remaining = scan.NewEstimate(left, left, p.Kind == KindList, s.Rate, prices)
}

// WriteText writes the status for people.
func (s *Status) WriteText(w io.Writer) {
	state := "NOT COMPLETE"
	if s.Complete {
		state = "COMPLETE"
	}
	fmt.Fprintf(w, "plan %s (%s): %s\n", s.Plan, s.Kind, state)
	fmt.Fprintf(w, "  partitions  %d: %d done, %d running, %d failed, %d abandoned, %d pending\n", s.Partitions,
		s.Counts[PartDone], s.Counts[PartRunning], s.Counts[PartFailed], s.Counts[PartAbandoned], s.Counts[PartPending])
	fmt.Fprintf(w, "  planned     %s\n", workText(s.Planned))
	t := s.Totals
	fmt.Fprintf(w, "  done        %d keys in the done partitions: %d present, %d gone from the origin\n",
		t.Listed, t.Skipped+t.Copied, t.Vanished)
	fmt.Fprintf(w, "  copied      %d objects (%s) by all attempts\n", s.Copied, scan.FormatBytes(s.CopiedBytes))
	if t.Unlisted > 0 {
		fmt.Fprintf(w, "  not listed  %d origin paths the partitions' listings could not list (see the workers' warnings; finalize reports them)\n", t.Unlisted)
	}
	for _, ps := range s.Parts {
		switch ps.State {
		case PartFailed, PartAbandoned, PartRunning:
			fmt.Fprintf(w, "  partition %d: %s (attempt %d, worker %s)", ps.Index, ps.State, ps.Attempts, ps.Worker)
			if ps.Error != "" {
				fmt.Fprintf(w, ": %s", ps.Error)
			}
			fmt.Fprintln(w)
		}
	}
	if s.FailedKeys > 0 {
		fmt.Fprintf(w, "  failed keys %d: retried with the partition, or by: ferry finalize --plan %s\n", s.FailedKeys, s.Plan)
	}
	if !s.Complete {
		fmt.Fprint(w, "remaining ")
		s.Remaining.WriteText(w)
	}
}

// workText is "N objects (size)", saying how many sizes are unknown.
func workText(w scan.Workload) string {
	t := fmt.Sprintf("%d objects (%s", w.Objects, scan.FormatBytes(w.Bytes))
	if w.UnknownSize > 0 {
		t += fmt.Sprintf("; %d of unknown size", w.UnknownSize)
	}
	return t + ")"
}

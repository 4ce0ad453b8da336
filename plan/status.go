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
	latest, err := st.latestClaims(ctx)
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
			ps, err := st.partStatus(gctx, i, done[i], latest[i], now)
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

func (st *State) partStatus(ctx context.Context, i int, done bool, attempt int, now time.Time) (PartStatus, error) {
	ps := PartStatus{Index: i, State: PartPending, Attempts: attempt}
	if done {
		m, err := st.marker(ctx, i)
		if err != nil {
			return ps, err
		}
		ps.State, ps.Marker, ps.Worker = PartDone, m, m.Worker
		return ps, nil
	}
	if attempt == 0 {
		return ps, nil
	}
	c, err := st.claim(ctx, i, attempt)
	if store.IsNotFound(err) {
		return ps, nil
	}
	if err != nil {
		return ps, err
	}
	ps.Worker, ps.Error = c.Worker, c.Error
	switch {
	case c.abandoned(now):
		ps.State = PartAbandoned
	case c.State == StateRunning:
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
	fmt.Fprintf(w, "  planned     %d objects (%s)\n", s.Planned.Objects, scan.FormatBytes(s.Planned.Bytes))
	t := s.Totals
	fmt.Fprintf(w, "  done        %d keys: %d copied (%s), %d already present, %d failed, %d gone from the origin\n",
		t.Listed, t.Copied, scan.FormatBytes(t.CopiedBytes), t.Skipped, t.Failed, t.Vanished)
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
	if t.Failed > 0 {
		fmt.Fprintln(w, "  failed keys are retried by: ferry finalize --plan "+s.Plan)
	}
	if !s.Complete {
		fmt.Fprint(w, "remaining ")
		s.Remaining.WriteText(w)
	}
}

package plan

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/ferry-migrate/ferry/store"
)

// WorkResult is what Work did.
type WorkResult struct {
	Worker string       `json:"worker"`
	Target string       `json:"target,omitempty"` // the target URL, redacted
	Parts  []PartResult `json:"partitions"`
	// GaveUp are partitions left failed after MaxAttempts attempts.
	GaveUp []int `json:"gave_up,omitempty"`
}

// Incomplete reports whether a partition this worker ran ended with failed
// keys or an error, or one was given up.
func (r *WorkResult) Incomplete() bool {
	for _, p := range r.Parts {
		if p.Incomplete() {
			return true
		}
	}
	return len(r.GaveUp) > 0
}

// Work takes partitions of the plan in st until none is left: one not
// claimed yet, one whose last attempt failed (at most o.MaxAttempts
// attempts in all), or one whose worker stopped beating its claim for the
// lease. While other workers still run partitions it waits, to take over
// the ones they abandon, and returns once every partition is done or given
// up. Per-partition failures are in the result; the error is fatal (the
// state location cannot be read, ctx is done).
func Work(ctx context.Context, st *State, o WorkOptions) (*WorkResult, error) {
	o.setDefaults()
	p, err := st.Load(ctx)
	if err != nil {
		return nil, err
	}
	w := &worker{st: st, p: p, o: o}
	res := &WorkResult{Worker: o.Worker}
	mine := map[int]bool{} // partitions this worker attempted: never again
	for {
		next, wait, gaveUp, err := w.pick(ctx, mine)
		if err != nil {
			return res, err
		}
		res.GaveUp = gaveUp
		if next.part < 0 {
			if !wait {
				return res, nil
			}
			select {
			case <-time.After(min(o.Lease/2, 5*time.Second)):
				continue
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
		mine[next.part] = true
		if done, err := w.isDone(ctx, next.part); err != nil || done {
			if err != nil {
				return res, err
			}
			continue // finished by another worker since the listing
		}
		pr, err := w.attempt(ctx, next.part, next.attempt)
		if err == errLostClaim {
			continue
		}
		res.Parts = append(res.Parts, pr)
		if err != nil && ctx.Err() != nil {
			return res, err
		}
		if err != nil {
			o.Logger.Warn("partition failed", "partition", next.part, "attempt", next.attempt, "err", err)
		}
	}
}

type pick struct{ part, attempt int }

// pick finds the next partition to attempt (part -1: none now), whether
// others are still running some, and which partitions are given up.
func (w *worker) pick(ctx context.Context, mine map[int]bool) (next pick, wait bool, gaveUp []int, err error) {
	next.part = -1
	done, err := w.st.doneParts(ctx)
	if err != nil {
		return next, false, nil, err
	}
	latest, err := w.st.latestClaims(ctx)
	if err != nil {
		return next, false, nil, err
	}
	n := len(w.p.Partitions)
	// Workers start at different partitions, so they rarely race for one.
	h := fnv.New32a()
	h.Write([]byte(w.o.Worker))
	start := int(h.Sum32() % uint32(n))
	now := time.Now()
	for i := range n {
		part := (start + i) % n
		if done[part] {
			continue
		}
		attempt := latest[part]
		if attempt == 0 {
			if next.part < 0 && !mine[part] {
				next = pick{part, 1}
			}
			continue
		}
		c, err := w.st.claim(ctx, part, attempt)
		if store.IsNotFound(err) {
			continue // listed, then gone: the location was cleaned
		}
		if err != nil {
			return next, false, nil, err
		}
		switch {
		case c.State == StateRunning && !c.abandoned(now):
			wait = true
		case attempt >= w.o.MaxAttempts:
			gaveUp = append(gaveUp, part)
		case mine[part]:
			// this worker failed it already; another may try
		case next.part < 0:
			next = pick{part, attempt + 1}
		}
	}
	return next, wait, gaveUp, nil
}

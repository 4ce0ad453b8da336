package plan

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/ferry-migrate/ferry/scan"
)

// Created is what plan create made: the plan, where it is stored (Stored is
// false for a dry run) and its estimate.
type Created struct {
	Location string        `json:"location"`
	Stored   bool          `json:"stored"`
	Plan     *Plan         `json:"plan"`
	Estimate scan.Estimate `json:"estimate"`
}

// Build makes the plan with build and stores it at location, create-only.
// A dry run builds it into a throwaway location (key-list plans write key
// files) and stores nothing.
func Build(ctx context.Context, location string, dryRun bool, build func(context.Context, *State) (*Plan, error)) (*Plan, error) {
	if dryRun {
		tmp, err := os.MkdirTemp("", "ferry-plan-dry-run-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		location = tmp
	}
	st, err := Open(ctx, location, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if dryRun {
		return build(ctx, st)
	}
	return Create(ctx, st, build)
}

// WriteText writes the plan's summary and estimate for people, and once it
// is stored the commands that work on it.
func (c *Created) WriteText(w io.Writer) {
	p := c.Plan
	verb := "stored at"
	if !c.Stored {
		verb = "not stored (dry run); would go to"
	}
	fmt.Fprintf(w, "plan (%s of %s): %d partitions, %d objects (%s), %s %s\n", p.Kind, p.Source, len(p.Partitions),
		p.Totals.Objects, scan.FormatBytes(p.Totals.Bytes), verb, c.Location)
	var lo, hi int64 = -1, 0
	for _, pt := range p.Partitions {
		if lo < 0 || pt.Work.Objects < lo {
			lo = pt.Work.Objects
		}
		hi = max(hi, pt.Work.Objects)
	}
	fmt.Fprintf(w, "  objects per partition: %d to %d\n", lo, hi)
	c.Estimate.WriteText(w)
	if c.Stored {
		loc := scan.ShellQuote(c.Location)
		fmt.Fprintf(w, "next: ferry scan --plan %s --worker (or --partition K), then ferry plan status %s\n", loc, loc)
	}
}

// WriteSummary writes what the worker did, partition by partition, and the
// target (redacted).
func (r *WorkResult) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "worker %s:\n", r.Worker)
	if len(r.GaveUp) > 0 {
		fmt.Fprintf(w, "  gave up partitions %v after the maximum attempts\n", r.GaveUp)
	}
	for _, p := range r.Parts {
		p.WriteText(w)
	}
	fmt.Fprintf(w, "target: %s\n", r.Target)
}

// WriteSummary writes what the attempt at the partition did and the target
// (as for WorkResult).
func (p PartResult) WriteSummary(w io.Writer) {
	p.WriteText(w)
	fmt.Fprintf(w, "target: %s\n", p.Target)
}

// WriteText writes what the attempt at the partition did.
func (p PartResult) WriteText(w io.Writer) {
	switch {
	case p.AlreadyDone:
		fmt.Fprintf(w, "partition %d: already done\n", p.Partition)
	case p.Error != "":
		fmt.Fprintf(w, "partition %d (attempt %d): failed: %s\n", p.Partition, p.Attempt, p.Error)
	case p.Result != nil:
		s := p.Result.Stats
		note := ""
		if !p.Counted {
			note = " (finished by another attempt first: not counted)"
		}
		fmt.Fprintf(w, "partition %d (attempt %d): %d keys, copied %d (%s), skipped %d, failed %d%s\n",
			p.Partition, p.Attempt, s.Listed, s.Copied, scan.FormatBytes(s.CopiedBytes), s.Skipped, s.Failed, note)
	}
}

package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
)

// The commands of plans (ferry plan create, plan status, scan --plan,
// finalize --plan), each one call. Errors about what the caller gave are
// *scan.OptionError; a run that leaves work undone is a
// *scan.IncompleteError.

// Source is where plan create takes the keys from: exactly one of a
// listable origin, a key list and an S3 Inventory report.
type Source struct {
	Origin    string    // a listable origin URL
	Keys      string    // a key list file, "-" for Stdin
	Stdin     io.Reader // the key list when Keys is "-"
	Inventory string    // the manifest.json of an inventory (bucket URL or file)
}

// open checks the source and opens it: the build function for Build and
// what closes the source.
func (s Source) open(ctx context.Context, o Options) (func(context.Context, *State) (*Plan, error), func(), error) {
	none := func() {}
	n := 0
	for _, v := range []string{s.Origin, s.Keys, s.Inventory} {
		if v != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return nil, none, &scan.OptionError{Err: errors.New("plan create needs one source: --origin URL, --keys FILE|- or --inventory URL")}
	case o.Prefix != "" && s.Origin == "":
		return nil, none, &scan.OptionError{Err: errors.New("--prefix applies to --origin plans only")}
	case s.Origin != "":
		b, err := store.OpenOrigin(ctx, s.Origin)
		if err != nil {
			return nil, none, err
		}
		return FromOrigin(b, store.Redact(s.Origin), o), func() { b.Close() }, nil
	case s.Keys == "-":
		return FromKeys(s.Stdin, "-", o), none, nil
	case s.Keys != "":
		f, err := os.Open(s.Keys)
		if err != nil {
			return nil, none, &scan.OptionError{Err: fmt.Errorf("keys file: %v", err)} // "open FILE: why"
		}
		return FromKeys(f, s.Keys, o), func() { f.Close() }, nil
	}
	build, closeInv, err := FromInventory(ctx, s.Inventory, o)
	if err != nil {
		return nil, none, err
	}
	return build, func() { _ = closeInv() }, nil
}

// CreateOptions configures plan create.
type CreateOptions struct {
	Location string // the state location (a directory or bucket URL)
	DryRun   bool   // build and estimate the plan, store nothing
	Source   Source
	Options  Options
	Rates    scan.Rates // of the estimate
	Prices   scan.Prices
}

// CreateFrom builds the plan from its source and stores it at the
// location, create-only (Build), with its estimate.
func CreateFrom(ctx context.Context, co CreateOptions) (*Created, error) {
	build, closeSource, err := co.Source.open(ctx, co.Options)
	if err != nil {
		return nil, err
	}
	defer closeSource()
	p, err := Build(ctx, co.Location, co.DryRun, build)
	if err != nil {
		return nil, err
	}
	return &Created{Location: store.Redact(co.Location), Stored: !co.DryRun, Plan: p, Estimate: p.Estimate(co.Rates, co.Prices)}, nil
}

// StatusOf reads the status of the plan at location (ReadStatus).
func StatusOf(ctx context.Context, location string, prices scan.Prices) (*Status, error) {
	st, err := Open(ctx, location, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return ReadStatus(ctx, st, prices)
}

// Err is nil when every partition is done, else a *scan.IncompleteError.
func (s *Status) Err() error {
	if s.Complete {
		return nil
	}
	return scan.Incompletef("plan not complete: %d of %d partitions done", s.Counts[PartDone], s.Partitions)
}

// ScanOptions configures scan --plan.
type ScanOptions struct {
	Location  string // the plan's state location
	Partition int    // the partition to do (0-based); -1 with Worker
	Worker    bool   // take partitions until none is left (Work)
	// Work is the worker's options; Work.Scan without an origin fetches
	// the keys of a key-list plan through the rules that Rules loads.
	Work  WorkOptions
	Rules func() (*rules.Set, error)
}

// Check refuses what scan --plan cannot do, before anything is opened:
// it needs one of Partition and Worker, and it takes its keys from the
// plan (no key list, shard or dry run in Work.Scan).
func (so *ScanOptions) Check() error {
	o := &so.Work.Scan
	switch {
	case so.Worker == (so.Partition >= 0):
		return &scan.OptionError{Err: errors.New("--plan needs --partition K or --worker (one of them)")}
	case o.KeysName != "" || o.Shards > 0 || o.DryRun:
		return &scan.OptionError{Err: errors.New("--plan takes its keys from the plan: not with --keys, --shard or --dry-run")}
	}
	return nil
}

// ScanResult is what Scan did: a *WorkResult or a PartResult, naming the
// target (redacted). WriteSummary writes it for people.
type ScanResult interface {
	WriteSummary(w io.Writer)
	Err() error // nil, or a *scan.IncompleteError
}

// Err is nil unless a partition ended incomplete or was given up.
func (r *WorkResult) Err() error { return incomplete(r.Incomplete()) }

// Err is nil unless the partition ended incomplete.
func (r PartResult) Err() error { return incomplete(r.Incomplete()) }

func incomplete(yes bool) error {
	if !yes {
		return nil
	}
	return scan.Incompletef("some partitions or keys failed: see ferry plan status, then finalize --plan")
}

// Scan does scan --plan: one partition (RunPartition) or partitions until
// none is left (Work) of the plan at so.Location. The result is nil when
// nothing was attempted (Check refused the options, the plan cannot be
// read, ...); the error is the run's (fatal, or a
// *scan.OptionError), the result's Err says whether work is left.
func Scan(ctx context.Context, so ScanOptions) (ScanResult, error) {
	if err := so.Check(); err != nil {
		return nil, err
	}
	st, err := Open(ctx, so.Location, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := so.source(ctx, st); err != nil {
		return nil, err
	}
	if so.Worker {
		res, err := Work(ctx, st, so.Work)
		if res == nil {
			return nil, err
		}
		res.Target = store.Redact(so.Work.Scan.TargetURL)
		return res, err
	}
	res, err := RunPartition(ctx, st, so.Partition, so.Work)
	if err != nil && res.Attempt == 0 {
		return nil, err // nothing was attempted
	}
	res.Target = store.Redact(so.Work.Scan.TargetURL)
	return res, err
}

// source checks the partition against the plan in st and, for a plan whose
// keys are fetched through the rules, loads them into so.Work.Scan.
func (so *ScanOptions) source(ctx context.Context, st *State) error {
	p, err := st.Load(ctx)
	if err != nil {
		return err
	}
	if so.Partition >= len(p.Partitions) {
		return &scan.OptionError{Err: fmt.Errorf("--partition %d: the plan has partitions 0..%d", so.Partition, len(p.Partitions)-1)}
	}
	o := &so.Work.Scan
	if o.OriginURL != "" {
		return nil
	}
	if p.Kind == KindList {
		return &scan.OptionError{Err: fmt.Errorf("plan %s lists an origin: give it with --origin", so.Location)}
	}
	if o.Rules, err = so.Rules(); err == nil && len(o.Rules.Rules) == 0 {
		err = &scan.OptionError{Err: errors.New("the plan's keys are fetched through the rules without --origin, and the configuration has none")}
	}
	return err
}

// FailedKeys reads the keys that every worker of the plan at location
// failed, for finalize --plan; warn says how many partitions are not done
// (finalize's full pass covers their keys).
func FailedKeys(ctx context.Context, location string, warn io.Writer, log *slog.Logger) ([]string, error) {
	st, err := Open(ctx, location, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	done, total, err := st.Progress(ctx)
	if err != nil {
		return nil, err
	}
	if done < total {
		fmt.Fprintf(warn, "plan %s: %d of %d partitions are not done; finalize's full pass covers their keys\n",
			store.Redact(location), total-done, total)
	}
	keys, err := st.FailedKeys(ctx)
	if err == nil {
		log.Info("keys that failed in the plan's workers", "plan", store.Redact(location), "keys", len(keys))
	}
	return keys, err
}

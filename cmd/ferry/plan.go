package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/ferry-migrate/ferry/plan"
	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
	"github.com/spf13/cobra"
)

// planConfig holds the plan.* keys.
type planConfig struct {
	Lease       time.Duration
	MaxAttempts int
}

func (p *planConfig) keys() []key {
	return []key{
		{"plan.lease", "lease", "how long a worker's claim on a partition holds without a heartbeat (it beats every third of it); then another worker takes the partition over", confval.Duration(&p.Lease, plan.DefaultLease)},
		{"plan.max_attempts", "max-attempts", "attempts at a partition, across workers, before scan --worker leaves it failed", confval.Int(&p.MaxAttempts, plan.DefaultMaxAttempts, 1)},
	}
}

// planFlags are scan's plan flags.
type planFlags struct {
	location  string
	partition int
	worker    bool
}

func addPlanScanFlags(c *cobra.Command, pf *planFlags) {
	f := c.Flags()
	f.StringVar(&pf.location, "plan", "", "the plan's state location (a directory or bucket URL, see ferry plan create): work on its partitions")
	f.IntVar(&pf.partition, "partition", -1, "with --plan: do this partition (0-based), e.g. $(JOB_COMPLETION_INDEX) in a Kubernetes Indexed Job")
	f.BoolVar(&pf.worker, "worker", false, "with --plan: take partitions until none is left")
	addKeyFlags(f, "plan.lease", "plan.max_attempts")
}

// estimateFlags are the rates and prices of an estimate.
type estimateFlags struct {
	rateObjects float64
	rateBytes   string
	prices      scan.Prices
}

func addEstimateFlags(c *cobra.Command, ef *estimateFlags, rates bool) {
	f := c.Flags()
	if rates {
		f.Float64Var(&ef.rateObjects, "rate-objects", 0, "objects per second to estimate the time at (0: the rate measured, if any)")
		f.StringVar(&ef.rateBytes, "rate-bytes", "", "bytes per second to estimate the time at, e.g. 200M")
	}
	f.Float64Var(&ef.prices.EgressPerGB, "price-egress-gb", 0, "price of one GiB of egress from the origin, for the cost estimate")
	f.Float64Var(&ef.prices.Per1000Requests, "price-per-1000-requests", 0, "price of 1,000 requests (LIST, HEAD, GET, PUT), for the cost estimate")
}

func (ef *estimateFlags) rates() (scan.Rates, error) {
	r := scan.Rates{ObjectsPerSec: ef.rateObjects}
	if ef.rateBytes != "" {
		n, err := confval.ParseSize(ef.rateBytes)
		if err != nil {
			return r, usagef("--rate-bytes %q: %v", ef.rateBytes, err)
		}
		r.BytesPerSec = float64(n)
	}
	if r.ObjectsPerSec < 0 || ef.prices.EgressPerGB < 0 || ef.prices.Per1000Requests < 0 {
		return r, usagef("rates and prices must not be negative")
	}
	return r, nil
}

func newPlanCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "plan",
		Short: "Cut a migration into partitions that many workers take (scan --plan)",
		Long: `A plan cuts a migration into partitions, stored in a state location every worker
can read and write: a directory, or a bucket URL such as
s3://ferry-state/plans/june?endpoint=... (a prefix of the target works too).

  ferry plan create LOCATION   list the source once and store the partitions, with an estimate
  ferry scan --plan LOCATION --partition K   do partition K (a Kubernetes Indexed Job's index)
  ferry scan --plan LOCATION --worker        take partitions until none is left
  ferry plan status LOCATION   done, running, failed partitions and the totals of every worker
  ferry finalize --plan LOCATION             the final sweep, with every worker's failed keys

A partition is finished by a create-only completion marker, so a partition done twice
(a retried pod, two workers racing) is harmless and counted once. See docs/plan.md.`,
		Args: noArgs,
	}
	c.AddCommand(newPlanCreateCmd(a), newPlanStatusCmd(a))
	return c
}

// planCreateFlags are the flags of plan create.
type planCreateFlags struct {
	keys, inventory, prefix string
	partitions              int
	partitionObjects        int64
	listers                 int
	dryRun, jsonOut         bool
	est                     estimateFlags
}

func newPlanCreateCmd(a *app) *cobra.Command {
	var pf planCreateFlags
	c := &cobra.Command{
		Use:   "create LOCATION",
		Short: "Build a plan from a listable origin, a key list or an S3 Inventory, with an estimate",
		Long: `Build a plan and store it at LOCATION (a directory or bucket URL), create-only.

Sources:
  --origin URL        a listable origin: listed once, --listers listings at a time (prefixes
                      are found with delimiter listings), and cut into key ranges
  --keys FILE|-       a key list (as scan --keys reads it): cut into runs of consecutive keys,
                      each stored as a key file at LOCATION
  --inventory URL     the manifest.json of an S3 Inventory report (CSV, gzip or not), as a
                      bucket URL (its data files are read from the same bucket) or a local file

The estimate (objects, bytes, LIST/HEAD/GET/PUT requests, time, cost) assumes an empty
target; give --rate-objects/--rate-bytes for the time and the --price-* flags for the cost.
--dry-run prints the estimate and stores nothing.

` + exitCodesHelp,
		Example: `  ferry plan create 's3://ferry-state/plans/june?endpoint=https://s3.example.com' --origin s3://old-bucket --partitions 64
  ferry plan create ./plans/june --inventory s3://inventory/old-bucket/all/2026-06-01T00-00Z/manifest.json --partition-objects 1000000
  ferry plan create ./plans/keys --keys keys.txt --dry-run --rate-objects 800 --price-per-1000-requests 0.005`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlanCreate(cmd.Context(), a, args[0], &pf)
		},
	}
	f := c.Flags()
	f.StringVar(&pf.keys, "keys", "", "key list file, or - for stdin")
	f.StringVar(&pf.inventory, "inventory", "", "manifest.json of an S3 Inventory report (bucket URL or local file)")
	f.StringVar(&pf.prefix, "prefix", "", "only keys with this prefix (--origin)")
	f.IntVar(&pf.partitions, "partitions", 0, "number of partitions (default 16 unless --partition-objects is given)")
	f.Int64Var(&pf.partitionObjects, "partition-objects", 0, "objects per partition, instead of --partitions")
	f.BoolVar(&pf.dryRun, "dry-run", false, "print the plan's estimate, store nothing")
	f.BoolVar(&pf.jsonOut, "json", false, "print the plan and its estimate as JSON on stdout")
	f.IntVar(&pf.listers, "listers", 16, "listings at once while the plan lists a listable origin")
	addKeyFlags(f, "origin")
	addEstimateFlags(c, &pf.est, true)
	return c
}

func runPlanCreate(ctx context.Context, a *app, location string, pf *planCreateFlags) error {
	rates, err := pf.est.rates()
	if err != nil {
		return err
	}
	opts := plan.Options{Partitions: pf.partitions, PartitionObjects: pf.partitionObjects, Listers: pf.listers, Prefix: pf.prefix}
	build, closeSource, err := planSource(ctx, a, pf, opts)
	if err != nil {
		return err
	}
	defer closeSource()
	p, err := plan.Build(ctx, location, pf.dryRun, build)
	if err != nil {
		return err
	}
	out := &plan.Created{Location: store.Redact(location), Stored: !pf.dryRun, Plan: p, Estimate: p.Estimate(rates, pf.est.prices)}
	return printOut(a, pf.jsonOut, out, func(w io.Writer) {
		out.WriteText(w)
		if out.Stored {
			fmt.Fprintf(w, "next: ferry scan --plan %s --worker (or --partition K), then ferry plan status %s\n", shellQuote(out.Location), shellQuote(out.Location))
		}
	})
}

// planSource picks the plan's source from the flags.
func planSource(ctx context.Context, a *app, pf *planCreateFlags, opts plan.Options) (func(context.Context, *plan.State) (*plan.Plan, error), func(), error) {
	none := func() {}
	n := 0
	for _, s := range []string{a.cfg.Origin, pf.keys, pf.inventory} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, none, usagef("plan create needs one source: --origin URL, --keys FILE|- or --inventory URL")
	}
	if pf.prefix != "" && a.cfg.Origin == "" {
		return nil, none, usagef("--prefix applies to --origin plans only")
	}
	switch {
	case a.cfg.Origin != "":
		b, err := store.OpenOrigin(ctx, a.cfg.Origin)
		if err != nil {
			return nil, none, err
		}
		return plan.FromOrigin(b, store.Redact(a.cfg.Origin), opts), func() { b.Close() }, nil
	case pf.keys == "-":
		return plan.FromKeys(a.stdin, "-", opts), none, nil
	case pf.keys != "":
		f, err := os.Open(pf.keys)
		if err != nil {
			return nil, none, usagef("keys file: %v", err) // "open FILE: why"
		}
		return plan.FromKeys(f, pf.keys, opts), func() { f.Close() }, nil
	}
	build, closeInv, err := plan.FromInventory(ctx, pf.inventory, opts)
	if err != nil {
		return nil, none, err
	}
	return build, func() { _ = closeInv() }, nil
}

// printOut prints v as JSON or for people.
func printOut(a *app, jsonOut bool, v any, human func(io.Writer)) error {
	return writeSummary(a, &scanFlags{jsonOut: jsonOut}, v, human)
}

func newPlanStatusCmd(a *app) *cobra.Command {
	var jsonOut bool
	var ef estimateFlags
	c := &cobra.Command{
		Use:   "status LOCATION",
		Short: "Show done, running and failed partitions and the totals of every worker",
		Long: `Read the plan at LOCATION with every worker's claims and completion markers: partitions
done, running, failed, abandoned (their worker stopped beating its claim) and pending; the
counts of the done partitions (each counted once); and the estimate of what is left at the
rate measured so far.

It exits 0 when every partition is done, 3 otherwise.

` + exitCodesHelp,
		Example: `  ferry plan status 's3://ferry-state/plans/june?endpoint=https://s3.example.com' --json`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := plan.Open(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := plan.ReadStatus(cmd.Context(), st, ef.prices)
			if err != nil {
				return err
			}
			if err := printOut(a, jsonOut, s, s.WriteText); err != nil {
				return err
			}
			if !s.Complete {
				return incompleteError{fmt.Errorf("plan not complete: %d of %d partitions done", s.Counts[plan.PartDone], s.Partitions)}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print the status as JSON on stdout")
	addEstimateFlags(c, &ef, false)
	return c
}

// runPlanScan is scan --plan: one partition, or a worker.
func runPlanScan(ctx context.Context, a *app, sf *scanFlags) error {
	pf := &sf.plan
	switch {
	case pf.worker == (pf.partition >= 0):
		return usagef("--plan needs --partition K or --worker (one of them)")
	case sf.keys != "" || sf.shard != "" || sf.dryRun:
		return usagef("--plan takes its keys from the plan: not with --keys, --shard or --dry-run")
	}
	o, cleanup, err := scanOptions(a, sf, "scan")
	if err != nil {
		return err
	}
	defer cleanup()
	st, err := plan.Open(ctx, pf.location, false)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := st.Load(ctx)
	if err != nil {
		return err
	}
	if pf.partition >= len(p.Partitions) {
		return usagef("--partition %d: the plan has partitions 0..%d", pf.partition, len(p.Partitions)-1)
	}
	if o.OriginURL == "" {
		if p.Kind == plan.KindList {
			return usagef("plan %s lists an origin: give it with --origin", pf.location)
		}
		if o.Rules, err = loadRules(a); err == nil && len(o.Rules.Rules) == 0 {
			err = usagef("the plan's keys are fetched through the rules without --origin, and the configuration has none")
		}
		if err != nil {
			return err
		}
	}
	wo := plan.WorkOptions{Scan: o, StateDir: a.cfg.StateDir, Lease: a.cfg.Plan.Lease, MaxAttempts: a.cfg.Plan.MaxAttempts, Logger: a.log}
	if pf.worker {
		res, err := plan.Work(ctx, st, wo)
		if res == nil {
			return err
		}
		return planScanDone(a, sf, res, err, res.Incomplete())
	}
	res, err := plan.RunPartition(ctx, st, pf.partition, wo)
	if err != nil && res.Attempt == 0 {
		return err // nothing was attempted
	}
	return planScanDone(a, sf, res, err, res.Incomplete())
}

// planScanDone prints what a plan scan did and turns it into the error
// that gives the exit code.
func planScanDone(a *app, sf *scanFlags, v interface{ WriteText(io.Writer) }, err error, incomplete bool) error {
	if v != nil {
		if werr := printOut(a, sf.jsonOut, v, v.WriteText); werr != nil && err == nil {
			err = werr
		}
	}
	switch {
	case err != nil:
		return err
	case incomplete:
		return incompleteError{errors.New("some partitions or keys failed: see ferry plan status, then finalize --plan")}
	}
	return nil
}

// planFailedKeys reads the keys every worker of a plan failed, for finalize.
func planFailedKeys(ctx context.Context, a *app, location string) ([]string, error) {
	st, err := plan.Open(ctx, location, false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	done, total, err := st.Progress(ctx)
	if err != nil {
		return nil, err
	}
	if done < total {
		fmt.Fprintf(a.stderr, "plan %s: %d of %d partitions are not done; finalize's full pass covers their keys\n",
			store.Redact(location), total-done, total)
	}
	keys, err := st.FailedKeys(ctx)
	if err == nil {
		a.log.Info("keys that failed in the plan's workers", "plan", store.Redact(location), "keys", len(keys))
	}
	return keys, err
}

// writeScanSummary prints scan's summary; a dry run adds the estimate of
// the copy it found (as "estimate" in JSON).
func writeScanSummary(a *app, sf *scanFlags, res *scan.Result, rates scan.Rates) error {
	human := func(w io.Writer) { res.WriteSummary(w, store.Redact(a.cfg.Target), retryCommand(a, res.Manifest)) }
	if !res.DryRun {
		return writeSummary(a, sf, res, human)
	}
	est := scan.NewEstimate(scan.Counted(res.Listed, res.ListedBytes), scan.Counted(res.Missing, res.MissingBytes),
		res.Mode == "list", rates, sf.est.prices)
	v := struct {
		*scan.Result
		Estimate scan.Estimate `json:"estimate"`
	}{res, est}
	return writeSummary(a, sf, v, func(w io.Writer) { human(w); est.WriteText(w) })
}

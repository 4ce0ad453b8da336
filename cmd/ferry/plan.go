package main

import (
	"cmp"
	"context"
	"io"
	"time"

	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/ferry-migrate/ferry/plan"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/scan"
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
	return scan.ParseRates(ef.rateObjects, ef.rateBytes, ef.prices)
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
	out, err := plan.CreateFrom(ctx, plan.CreateOptions{
		Location: location, DryRun: pf.dryRun, Rates: rates, Prices: pf.est.prices,
		Source:  plan.Source{Origin: a.cfg.Origin, Keys: pf.keys, Stdin: a.stdin, Inventory: pf.inventory},
		Options: plan.Options{Partitions: pf.partitions, PartitionObjects: pf.partitionObjects, Listers: pf.listers, Prefix: pf.prefix, Logger: a.log},
	})
	if err != nil {
		return err
	}
	return printOut(a, pf.jsonOut, out, out.WriteText)
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
			s, err := plan.StatusOf(cmd.Context(), args[0], ef.prices)
			if err != nil {
				return err
			}
			return cmp.Or(printOut(a, jsonOut, s, s.WriteText), s.Err())
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print the status as JSON on stdout")
	addEstimateFlags(c, &ef, false)
	return c
}

// runPlanScan is scan --plan: one partition, or a worker.
func runPlanScan(ctx context.Context, a *app, sf *scanFlags) error {
	o, cleanup, err := scanOptions(a, sf, "scan")
	if err != nil {
		return err
	}
	defer cleanup()
	res, err := plan.Scan(ctx, plan.ScanOptions{
		Location: sf.plan.location, Partition: sf.plan.partition, Worker: sf.plan.worker,
		Work:  plan.WorkOptions{Scan: o, StateDir: a.cfg.StateDir, Lease: a.cfg.Plan.Lease, MaxAttempts: a.cfg.Plan.MaxAttempts, Logger: a.log},
		Rules: func() (*rules.Set, error) { return loadRules(a) },
	})
	if res == nil {
		return err
	}
	werr := printOut(a, sf.jsonOut, res, func(w io.Writer) { res.WriteSummary(w) })
	return cmp.Or(err, werr, res.Err())
}

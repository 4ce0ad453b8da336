package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/internal/cliconf"
	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
	"github.com/spf13/cobra"
)

// scanConfig holds the scan.* keys.
type scanConfig struct {
	Transfers int
	Checkers  int
	Listers   int
	Retries   int
	BWLimit   string
	MaxRPS    float64
}

func (s *scanConfig) keys() []key {
	return []key{
		{"scan.transfers", "transfers", "objects copied in parallel", confval.Int(&s.Transfers, scan.DefaultTransfers, 1)},
		{"scan.checkers", "checkers", "existence checks in parallel (key-list mode)", confval.Int(&s.Checkers, scan.DefaultCheckers, 1)},
		{"scan.listers", "listers", fmt.Sprintf("spans of the key space listed and diffed at once (0: %d when the origin is S3 or GCS and the target is not a local directory, else 1)", scan.DefaultListers), confval.Int(&s.Listers, 0, 0)},
		{"scan.retries", "retries", "extra attempts per key for transient errors (5xx, 429, timeouts, resets)", confval.Int(&s.Retries, scan.DefaultRetries, 0)},
		{"scan.bwlimit", "bwlimit", "bytes per second read from the origin (bucket or through the rules), e.g. 50M or 1GiB (empty: unlimited)", confval.String(&s.BWLimit, "", confval.SizeText)},
		{"scan.max_rps", "max-rps", "origin requests per second (0: unlimited)", confval.Float(&s.MaxRPS, 0, 0)},
	}
}

// scanFlags are the flags scan and finalize share.
type scanFlags struct {
	keys     string
	prefix   string
	include  []string
	exclude  []string
	shard    string
	dryRun   bool
	jsonOut  bool
	report   string
	compare  string
	checksum bool
	journals []string // finalize --journal
	plan     planFlags
	est      estimateFlags
}

func newScanCmd(a *app) *cobra.Command {
	var sf scanFlags
	c := &cobra.Command{
		Use:   "scan",
		Short: "Bulk-copy the cold data from the origin into the target",
		Long: `Copy every object the target lacks from the origin, create-only: objects already in
the target are never overwritten.

Sources:
  --origin URL      a listable origin (a directory, file://, s3://bucket/prefix?endpoint=..., gs://):
                    origin and target listings are diffed, metadata is kept
  --keys FILE|-     a key list (one key per line, JSONL or CSV with key[,size,md5]); keys are
                    fetched through the back-to-origin rules as serve would, or from --origin
                    when it is given too. A failure manifest is a valid key list.
  --plan LOCATION   the partitions of a plan (ferry plan create): --partition K does one,
                    --worker takes them until none is left (see ferry plan --help)

Per-key failures are retried, then written to a failure manifest in <state_dir>/scan/ and
the run goes on. An interrupted run resumes: the listing diff skips what was copied, and a
key list restarts after the last key a checkpoint recorded.

` + exitCodesHelp,
		Example: `  ferry scan --origin /srv/www --target 's3://new-bucket?endpoint=https://s3.example.com'
  ferry scan --keys keys.txt --config ferry.yaml
  ferry scan --keys .ferry/scan/failed-20260101T000000.000Z-42.jsonl --origin s3://old-bucket
  ferry scan --origin s3://old --shard 0/4 --transfers 64
  ferry scan --plan 's3://ferry-state/plans/june?endpoint=https://s3.example.com' --origin s3://old --worker`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), a, &sf)
		},
	}
	f := c.Flags()
	addScanFlags(c, &sf)
	f.BoolVar(&sf.dryRun, "dry-run", false, "list and diff only: report what would be copied")
	f.StringVar(&sf.compare, "compare", "size", "compare keys present on both sides: size or none")
	addPlanScanFlags(c, &sf.plan)
	addEstimateFlags(c, &sf.est, true)
	return c
}

// addScanFlags adds the flags scan and finalize share.
func addScanFlags(c *cobra.Command, sf *scanFlags) {
	f := c.Flags()
	f.StringVar(&sf.keys, "keys", "", "key list file, or - for stdin")
	f.StringVar(&sf.prefix, "prefix", "", "only keys with this prefix")
	f.StringArrayVar(&sf.include, "include", nil, `only keys matching this glob (repeatable; "*" stops at "/", "**" as a path element does not, {a,b} is either; a glob without "/" also matches base names)`)
	f.StringArrayVar(&sf.exclude, "exclude", nil, "skip keys matching this glob (repeatable)")
	f.StringVar(&sf.shard, "shard", "", "i/n: only the keys of shard i (0-based) of n, split by a hash of the key (every shard lists everything)")
	f.BoolVar(&sf.jsonOut, "json", false, "print a machine-readable JSON summary on stdout")
	f.StringVar(&sf.report, "report", "", "also write the JSON summary to this file")
	addKeyFlags(f, "origin", "scan.transfers", "scan.checkers", "scan.listers", "scan.retries", "scan.bwlimit", "scan.max_rps")
}

// scanOptions turns flags and configuration into scan.Options (the
// target, origin and mirror are opened by scan) and checks them. The
// returned cleanup closes the keys file. With --plan the keys file is not
// opened (plan.Scan refuses it).
func scanOptions(a *app, sf *scanFlags, what string) (scan.Options, func(), error) {
	cfg := a.cfg
	none := func() {}
	shard, shards, err := scan.ParseShard(sf.shard)
	if err != nil {
		return scan.Options{}, none, err
	}
	compareSize, err := scan.ParseCompare(sf.compare)
	if err != nil {
		return scan.Options{}, none, err
	}
	bw, err := confval.ParseSize(cfg.Scan.BWLimit)
	if err != nil {
		return scan.Options{}, none, &cliconf.Error{Key: "scan.bwlimit", Value: cfg.Scan.BWLimit, Msg: err.Error()}
	}
	o := scan.Options{
		TargetURL: cfg.Target, OriginURL: cfg.Origin, KeysName: sf.keys, Journals: sf.journals,
		Prefix: sf.prefix, Include: sf.include, Exclude: sf.exclude, Shard: shard, Shards: shards,
		Transfers: cfg.Scan.Transfers, Checkers: cfg.Scan.Checkers, Listers: cfg.Scan.Listers, Retries: cfg.Scan.Retries,
		DryRun: sf.dryRun, CompareSize: compareSize, Checksum: sf.checksum,
		BWLimit: bw, MaxRPS: cfg.Scan.MaxRPS, StateDir: cfg.StateDir, Logger: a.log,
	}
	if err := o.Validate(); err != nil {
		return scan.Options{}, none, err
	}
	if sf.plan.location == "" {
		if err := o.ValidateSource(what); err != nil {
			return scan.Options{}, none, err
		}
	}
	if o.Fetch, err = fetchOptions(cfg, a.log); err != nil {
		return scan.Options{}, none, err
	}
	o.ContentTypes = o.Fetch.ContentTypes
	if o.Retries == 0 {
		o.Retries = -1 // 0 in the configuration means no retries
	}
	if sf.keys == "" || sf.plan.location != "" {
		return o, none, nil
	}
	return openKeys(a, sf.keys, o)
}

// openKeys opens the key list of o, and the rules when the keys are
// fetched through them.
func openKeys(a *app, name string, o scan.Options) (scan.Options, func(), error) {
	cleanup := func() {}
	if name == "-" {
		o.Keys = a.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return scan.Options{}, cleanup, asUsage(fmt.Errorf("keys file %s: %w", name, cliconf.PathError(err)))
		}
		o.Keys, cleanup = f, func() { f.Close() }
	}
	var err error
	if o.NeedsRules() {
		if o.Rules, err = loadRules(a); err == nil {
			err = o.CheckRules()
		}
	}
	if err != nil {
		cleanup()
		return scan.Options{}, func() {}, err
	}
	return o, cleanup, nil
}

func runScan(ctx context.Context, a *app, sf *scanFlags) error {
	if sf.plan.location != "" {
		return runPlanScan(ctx, a, sf)
	}
	o, cleanup, err := scanOptions(a, sf, "scan")
	if err != nil {
		return err
	}
	defer cleanup()
	rates, err := sf.est.rates()
	if err != nil {
		return err
	}
	o.Progress = newProgress(a.stderr, a.log, "scan", false)
	res, err := scan.Run(ctx, o)
	if res == nil {
		return err
	}
	retry := retryCommand(a, res.Manifest)
	sum := res.Summary(rates, sf.est.prices)
	werr := writeSummary(a, sf, sum, func(w io.Writer) { sum.WriteSummary(w, retry) })
	return cmp.Or(err, werr, res.Err(retry))
}

// retryCommand is a command line that retries the keys of a failure
// manifest with the source, target, state directory and config file of this
// run (a manifest read alone would go through the rules, or have no source).
func retryCommand(a *app, manifest string) string {
	args := []string{"ferry", "scan", "--keys", scan.ShellQuote(manifest)}
	cfg, def := a.cfg, allKeys()
	for _, kv := range []struct{ flag, val, key string }{
		{"--origin", store.Redact(cfg.Origin), "origin"},
		{"--target", store.Redact(cfg.Target), "target"},
		{"--state-dir", cfg.StateDir, "state_dir"},
	} {
		i := slices.IndexFunc(def, func(k key) bool { return k.Name == kv.key })
		if kv.val != def[i].Val.DefaultText() {
			args = append(args, kv.flag, scan.ShellQuote(kv.val))
		}
	}
	if cfg.File != "" {
		args = append(args, "--config", scan.ShellQuote(cfg.File))
	}
	return strings.Join(args, " ")
}

// writeSummary prints the human summary (or JSON with --json) and writes
// the --report file.
func writeSummary(a *app, sf *scanFlags, v any, human func(io.Writer)) error {
	if sf.report != "" {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(sf.report, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if sf.jsonOut {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human(a.stdout)
	return nil
}

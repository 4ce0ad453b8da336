package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ferry-migrate/ferry/plan"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/scan"
	"github.com/spf13/cobra"
)

func newFinalizeCmd(a *app) *cobra.Command {
	var sf scanFlags
	var removeRules bool
	var planLocation string
	c := &cobra.Command{
		Use:   "finalize",
		Short: "Copy what is still missing, verify the target is complete, then (optionally) remove the rules",
		Long: `The final sweep before the back-to-origin rules are removed:

  1. a full pass over the source (--origin listing or --keys list) copies every key the
     target still lacks, plus every key that failed earlier: the scan failure manifests
     (<state_dir>/scan/failed-*.jsonl) and serve's fill journals (--journal, default
     <state_dir>/serve-journal-*.jsonl and <state_dir>/journal/*.jsonl), and with --plan
     the failure manifests every worker of the plan left in its state location;
  2. verification: every origin key is in the target with the same size (a fresh listing
     pass for --origin); --checksum also compares the content of every object;
  3. a readiness report (origin keys, present, copied now, still missing, size and content
     mismatches, failed; samples of each). --report FILE writes it as JSON.

It exits 0 only when the target is complete, 3 otherwise. --remove-rules removes the rules
from the config file (with a backup) only after a complete result.

` + exitCodesHelp,
		Example: `  ferry finalize --origin /srv/www --checksum --report ready.json
  ferry finalize --keys all-keys.txt --config ferry.yaml --remove-rules`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if removeRules {
				if err := checkRulesWritable(a); err != nil {
					return err
				}
			}
			return runFinalize(cmd.Context(), a, &sf, removeRules, planLocation)
		},
	}
	f := c.Flags()
	addScanFlags(c, &sf)
	f.StringArrayVar(&sf.journals, "journal", nil, "serve journal files (glob, repeatable); default <state_dir>/serve-journal-*.jsonl and <state_dir>/journal/*.jsonl")
	f.BoolVar(&sf.checksum, "checksum", false, "compare the content of every object, not only its size")
	f.StringVar(&planLocation, "plan", "", "also retry the keys that failed in any worker of this plan (its state location)")
	f.BoolVar(&removeRules, "remove-rules", false, "remove the rules from the config file (with a backup) once the target is complete")
	return c
}

func runFinalize(ctx context.Context, a *app, sf *scanFlags, removeRules bool, planLocation string) error {
	if removeRules && a.cfg.File == "" {
		return usagef("--remove-rules: %w", rules.ErrNoRulesFile)
	}
	o, cleanup, err := scanOptions(a, sf, "finalize")
	if err != nil {
		return err
	}
	defer cleanup()
	if planLocation != "" {
		if o.Extra, err = plan.FailedKeys(ctx, planLocation, a.stderr, a.log); err != nil {
			return err
		}
	}
	o.Progress = newProgress(a.stderr, a.log, "finalize", false)
	rep, err := scan.Finalize(ctx, o)
	if err != nil {
		return err
	}
	if err := writeSummary(a, sf, rep, func(w io.Writer) { rep.WriteSummary(w) }); err != nil {
		return err
	}
	if err := rep.Err(removeRules); err != nil || !removeRules {
		return err
	}
	done, backup, err := clearRules(a)
	if err != nil {
		return err
	}
	if backup != "" {
		done += " (backup: " + backup + ")"
	}
	fmt.Fprintf(a.stderr, "%s; a running serve stops going back to the origin on its next reload\n", done)
	return nil
}

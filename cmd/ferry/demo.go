package main

import (
	"github.com/ferry-migrate/ferry/internal/demo"
	"github.com/spf13/cobra"
)

func newDemoCmd(a *app) *cobra.Command {
	var (
		files int
		keep  bool
	)
	c := &cobra.Command{
		Use:   "demo",
		Short: "Show the whole migration (rules, scan, serve, finalize, rules clear) on one machine",
		Long: `demo runs the whole ferry workflow on this machine with nothing installed:

  - starts a live origin: a web server on 127.0.0.1 over generated sample files
    that keeps producing new ones, like an application still uploading;
  - adds a back-to-origin rule pointing at it (ferry rules add);
  - bulk-copies the cold data into the target (ferry scan);
  - runs the lazy mirror (ferry serve) and sends a few client requests: fresh
    keys are filled from the origin (two clients share one fill), old keys are hits;
  - stops production, copies what is still missing and verifies the target
    (ferry finalize);
  - removes the rules (ferry rules clear): serve stops going back to the origin
    without a restart.

Each step runs the real command in-process and prints its output. The target is
a directory in a temporary folder unless --target is given; everything else
lives in the temporary folder, removed at the end unless --keep.

` + exitCodesHelp,
		Args:        noArgs,
		Annotations: map[string]string{"noconfig": "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if f := cmd.Flag("target"); f != nil && f.Changed {
				target = f.Value.String()
			}
			if files < 1 {
				return usagef("--files: must be at least 1")
			}
			return demo.Run(cmd.Context(), demo.Options{Target: target, Files: files, Keep: keep, Out: a.stdout, Ferry: runContext})
		},
	}
	c.Flags().IntVar(&files, "files", 300, "cold sample files the origin starts with")
	c.Flags().BoolVar(&keep, "keep", false, "keep the temporary folder (origin, target, state, config) for a look")
	return c
}

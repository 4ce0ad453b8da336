package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// scanConfig holds the scan.* keys.
type scanConfig struct {
	Transfers int `mapstructure:"transfers"`
	Checkers  int `mapstructure:"checkers"`
}

var scanKeys = []configKey{
	{"scan.transfers", 32, "objects copied in parallel"},
	{"scan.checkers", 16, "existence checks in parallel (key-list mode)"},
}

func newScanCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "scan",
		Short: "Bulk-copy the cold data from the origin into the target (not implemented yet)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("scan is not implemented yet")
		},
	}
	f := c.Flags()
	f.String("origin", "", "origin URL")
	bindKey(f, "origin", "origin")
	return c
}

package main

import (
	"fmt"
	"os"

	"github.com/ferry-migrate/ferry/internal/clidocs"
	"github.com/spf13/cobra"
)

// Markers around the generated key table in docs/configuration.md.
const (
	keysBegin = "<!-- BEGIN GENERATED CONFIG KEYS: go run ./cmd/ferry gen-docs --keys-doc docs/configuration.md -->"
	keysEnd   = "<!-- END GENERATED CONFIG KEYS -->"
)

// regenerateHint is what the docs tests print when the committed docs drift.
const regenerateHint = "go run ./cmd/ferry gen-docs --keys-doc docs/configuration.md docs/cli"

// newGenDocsCmd is the hidden command that writes the CLI reference, the man
// pages and the configuration key table from the cobra tree, so the docs
// cannot drift from the code (docs_test.go checks the committed copies).
func newGenDocsCmd(a *app) *cobra.Command {
	var manDir, keysDoc string
	c := &cobra.Command{
		Use:   "gen-docs [DIR]",
		Short: "Write the markdown CLI reference to DIR, man pages to --man, the key table to --keys-doc",
		Long: `Write the markdown CLI reference (one file per command) to DIR, man pages (section 1)
to the --man directory, and the configuration key table into the --keys-doc file
(between its generated-table markers). Used for docs/cli, docs/configuration.md
and release archives:

  go run ./cmd/ferry gen-docs --keys-doc docs/configuration.md docs/cli
  go run ./cmd/ferry gen-docs --man manpages

` + exitCodesHelp,
		Hidden:      true,
		Args:        usageArgs(cobra.MaximumNArgs(1)),
		Annotations: map[string]string{"noconfig": "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && manDir == "" && keysDoc == "" {
				return usagef("gen-docs: give DIR, --man DIR or --keys-doc FILE")
			}
			root := cmd.Root()
			if len(args) == 1 {
				if err := clidocs.Markdown(root, args[0]); err != nil {
					return fmt.Errorf("gen-docs: markdown: %w", err)
				}
			}
			if manDir != "" {
				if err := clidocs.Man(root, manDir, "ferry manual"); err != nil {
					return fmt.Errorf("gen-docs: man pages: %w", err)
				}
			}
			if keysDoc != "" {
				if err := updateKeysDoc(root, keysDoc); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&manDir, "man", "", "also write man pages (section 1) to this directory")
	c.Flags().StringVar(&keysDoc, "keys-doc", "", "rewrite the generated configuration key table in this markdown file")
	return c
}

// updateKeysDoc replaces the generated key table in file.
func updateKeysDoc(root *cobra.Command, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("gen-docs: %w", err)
	}
	var keys []clidocs.Key
	for _, k := range allKeys() {
		keys = append(keys, clidocs.Key{Name: k.Name, Env: k.Env(), Default: fmtDefault(k.Val.DefaultText()), Help: k.Help})
	}
	out, err := clidocs.ReplaceBetween(data, keysBegin, keysEnd, clidocs.KeysTable(root, keys, keyAnnotation))
	if err != nil {
		return fmt.Errorf("gen-docs: %s: %w", file, err)
	}
	return os.WriteFile(file, out, 0o644)
}

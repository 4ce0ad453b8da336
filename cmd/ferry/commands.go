package main

import "github.com/spf13/cobra"

// addCommands adds the workflow commands. Each lives in its own file.
func addCommands(root *cobra.Command, a *app) {
	root.AddCommand(
		newScanCmd(a),
		newServeCmd(a),
		newRulesCmd(a),
		newFinalizeCmd(a),
		newPlanCmd(a),
		newGenDocsCmd(a),
		newDemoCmd(a),
	)
}

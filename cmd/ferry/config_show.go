package main

import (
	"fmt"
	"sort"

	"github.com/ferry-migrate/ferry/store"
)

// showConfig prints the value in effect of every key and the file used.
// URLs are printed without credentials (store.Redact).
func showConfig(a *app) error {
	if a.cfg.File != "" {
		fmt.Fprintf(a.stdout, "# config file: %s\n", a.cfg.File)
	} else {
		fmt.Fprintln(a.stdout, "# config file: none (defaults, environment and flags only)")
	}
	keys := a.cfg.keys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].Name < keys[j].Name })
	for _, k := range keys {
		v := k.Val.Text()
		if k.Name == "target" || k.Name == "origin" {
			v = store.Redact(v)
		}
		fmt.Fprintf(a.stdout, "%s: %s\n", k.Name, fmtDefault(v))
	}
	return nil
}

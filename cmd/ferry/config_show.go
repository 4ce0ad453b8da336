package main

import (
	"fmt"
	"sort"
)

func showConfig(a *app) error {
	if a.cfg.File != "" {
		fmt.Fprintf(a.stdout, "# config file: %s\n", a.cfg.File)
	} else {
		fmt.Fprintln(a.stdout, "# config file: none (defaults, environment and flags only)")
	}
	keys := allKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].name < keys[j].name })
	for _, k := range keys {
		fmt.Fprintf(a.stdout, "%s: %v\n", k.name, fmtDefault(a.v.Get(k.name)))
	}
	return nil
}

package main

import (
	"fmt"
	"sort"

	"github.com/ferry-migrate/ferry/store"
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
		v := a.v.Get(k.name)
		if k.name == "target" || k.name == "origin" {
			v = store.Redact(fmt.Sprint(v)) // no user info or credential-like query values
		}
		fmt.Fprintf(a.stdout, "%s: %v\n", k.name, fmtDefault(v))
	}
	return nil
}

package main

import (
	"github.com/ferry-migrate/ferry/internal/cliconf"
	"github.com/spf13/pflag"
)

// key is the one declaration of a configuration key (name, flag, help, typed
// field with default and check); tables of keys are built by (*Config).keys.
type key cliconf.Key

// Env is the key's FERRY_ environment variable.
func (k key) Env() string { return cliconf.Key(k).Env() }

// cliKeys converts a key table for internal/cliconf.
func cliKeys(keys []key) []cliconf.Key {
	out := make([]cliconf.Key, len(keys))
	for i, k := range keys {
		out[i] = cliconf.Key(k)
	}
	return out
}

// keyAnnotation ties a flag to its config key.
const keyAnnotation = cliconf.Annotation

// addKeyFlags defines on fs the flags of the named config keys, with the
// help and default of their declaration.
func addKeyFlags(fs *pflag.FlagSet, names ...string) {
	cliconf.AddFlags(fs, cliKeys(allKeys()), names...)
}

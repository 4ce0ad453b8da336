package scan

import (
	"fmt"
	"strconv"
	"strings"
)

// OptionError is a bad option, or a bad combination of options, that a
// caller gave (a flag of the CLI): it is found before anything is opened
// or copied. The CLI exits 2 on it.
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// optionErrorf is an *OptionError with a formatted message.
func optionErrorf(format string, a ...any) error {
	return &OptionError{fmt.Errorf(format, a...)}
}

// ParseShard parses "i/n" into Options.Shard and Options.Shards ("": no
// sharding).
func ParseShard(s string) (shard, shards int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	i, n, ok := strings.Cut(s, "/")
	si, err1 := strconv.Atoi(i)
	sn, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || sn < 1 || si < 0 || si >= sn {
		return 0, 0, optionErrorf("--shard %q: want i/n with 0 <= i < n, e.g. 0/4", s)
	}
	return si, sn, nil
}

// ParseCompare parses how keys present on both sides are compared: "size"
// (or "") sets Options.CompareSize, "none" does not.
func ParseCompare(s string) (compareSize bool, err error) {
	switch s {
	case "", "size":
		return true, nil
	case "none":
		return false, nil
	}
	return false, optionErrorf("--compare %q: want size or none", s)
}

// Validate checks the options that can be checked before anything is
// opened: every Include and Exclude glob compiles. Errors are
// *OptionError.
func (o *Options) Validate() error {
	for _, g := range append(append([]string{}, o.Include...), o.Exclude...) {
		if _, err := CompileGlob(g); err != nil {
			return optionErrorf("glob %q: %w", g, err)
		}
	}
	return nil
}

// ValidateSource checks the source of command ("scan" or "finalize"): a
// listable origin (OriginURL) or a key list (KeysName, set before the list
// is opened); finalize takes one of them, not both, and its Journals must
// be valid globs. Errors are *OptionError.
func (o *Options) ValidateSource(command string) error {
	switch {
	case command == "finalize" && o.OriginURL != "" && o.KeysName != "":
		return optionErrorf("finalize takes --origin or --keys, not both")
	case o.OriginURL == "" && o.KeysName == "":
		return optionErrorf("%s needs a source: --origin URL (listable origin) or --keys FILE|- (key list)", command)
	}
	if err := CheckJournals(o.Journals); err != nil {
		return optionErrorf("--journal %w", err)
	}
	return nil
}

// NeedsRules reports whether the keys are fetched through the rules: a key
// list without an origin. Such a run with no rules is refused
// (CheckRules).
func (o *Options) NeedsRules() bool { return o.OriginURL == "" && o.KeysName != "" }

// CheckRules refuses a run that fetches through the rules (NeedsRules)
// when there are none.
func (o *Options) CheckRules() error {
	if o.NeedsRules() && (o.Rules == nil || len(o.Rules.Rules) == 0) {
		return optionErrorf("--keys without --origin fetches through the rules, and the configuration has none (add rules, or give --origin)")
	}
	return nil
}

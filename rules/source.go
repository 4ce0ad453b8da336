package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Source says where the rules in effect live: the rules_file when one is
// configured and exists, else the rules: section of the config file. Every
// edit goes to Path(), so a read-only config file (a Kubernetes ConfigMap)
// is never rewritten when rules_file names a file on a writable volume.
type Source struct {
	ConfigFile string // the config file in use; "" when none
	RulesFile  string // rules_file; "" when not set
	// NewFile is the config file to create when there is none yet (rules
	// add and import create one); "" means ./ferry.yaml.
	NewFile string
	// Self is where ferry itself answers (target URL, serve's listen
	// address): edits that make a rule point back at it are refused
	// (CheckLoop).
	Self []string
	// Redact hides the secrets of URLs in what the commands print (nil:
	// print them as they are).
	Redact func(string) string
}

// Path is the file the rules are read from and written to.
func (s Source) Path() string {
	switch {
	case s.RulesFile != "":
		return s.RulesFile
	case s.ConfigFile != "":
		return s.ConfigFile
	case s.NewFile != "":
		return s.NewFile
	}
	return "ferry.yaml"
}

// Load reads the rules in effect: rules_file's when it is set and exists,
// else the config file's, else none. Errors say which file and line (an
// *Error). When rules_file is in effect and the config file has rules too,
// a warning says they are not used.
func (s Source) Load() (*Set, error) {
	var inConfig *Set
	if s.ConfigFile != "" {
		set, err := ReadFile(s.ConfigFile)
		if err != nil {
			return nil, err
		}
		inConfig = set
	}
	if s.RulesFile != "" {
		set, err := ReadFile(s.RulesFile)
		switch {
		case err == nil:
			if inConfig != nil && len(inConfig.Rules) > 0 {
				set.Warnings = append(set.Warnings, fmt.Sprintf("the %d rules of %s are not used: rules_file %s holds the rules in effect",
					len(inConfig.Rules), s.ConfigFile, s.RulesFile))
			}
			return set, nil
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	if inConfig == nil {
		return &Set{}, nil
	}
	return inConfig, nil
}

// Edit applies change to the rules in effect and writes the result to
// Path() (EditFile: only the rules: section is rewritten; invalid rules or
// a mirror loop leave the file as it was). A rules_file that does not exist
// yet starts from the config file's rules.
func (s Source) Edit(change func([]Rule) ([]Rule, error)) (*Set, error) {
	if s.RulesFile != "" && !exists(s.RulesFile) {
		seed, err := s.Load()
		if err != nil {
			return nil, err
		}
		inner := change
		change = func([]Rule) ([]Rule, error) { return inner(seed.Rules) }
	}
	return EditFile(s.Path(), change, func(set *Set) error { return CheckLoop(set, s.Self) })
}

// Clear removes every rule in effect (rules clear, finalize --remove-rules).
// It returns what it did ("removed 2 rules from ferry.yaml") and where the
// removed rules: section was saved (ClearFile:
// <backupDir>/rules-backup-<time>.yaml). A rules_file that does not exist
// yet is created without rules; the config file keeps its own (no backup).
func (s Source) Clear(backupDir string) (done, backup string, err error) {
	if s.RulesFile != "" && !exists(s.RulesFile) {
		set, err := s.Load()
		if err != nil || len(set.Rules) == 0 {
			return "no rules to remove", "", err
		}
		if _, err := EditFile(s.RulesFile, func([]Rule) ([]Rule, error) { return nil, nil }, nil); err != nil {
			return "", "", err
		}
		return fmt.Sprintf("removed %d rules: rules_file %s now holds none (%s keeps them, unused)", len(set.Rules), s.RulesFile, s.ConfigFile), "", nil
	}
	file := s.ConfigFile
	if s.RulesFile != "" {
		file = s.RulesFile
	}
	if file == "" {
		return "no rules to remove", "", nil
	}
	backup, n, err := ClearFile(file, backupDir)
	if err != nil || n == 0 {
		return "no rules to remove", "", err
	}
	return fmt.Sprintf("removed %d rules from %s", n, file), backup, nil
}

// ErrNoRulesFile: there is no file the rules could be removed from.
var ErrNoRulesFile = errors.New("no config file in use, so there are no rules to remove")

// CheckClearable fails when Clear could not rewrite the file that holds
// the rules, so a command that ends by removing them (finalize
// --remove-rules) can refuse before it does any work. The error says what
// to do about a read-only config file.
func (s Source) CheckClearable() error {
	file := s.ConfigFile
	if s.RulesFile != "" {
		file = s.RulesFile
	}
	if file == "" {
		return ErrNoRulesFile
	}
	if err := CheckWritable(file); err != nil {
		if s.RulesFile == "" {
			return fmt.Errorf("the rules cannot be removed: %w (a read-only config file such as a Kubernetes ConfigMap: set rules_file: to a file on a writable volume, e.g. in the state directory, and serve and finalize use that)", err)
		}
		return fmt.Errorf("the rules cannot be removed: %w", err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Index parses a 1-based rule number against n rules and returns the
// 0-based index; the error says what is wrong for a person.
func Index(arg string, n int) (int, error) {
	i, err := strconv.Atoi(arg)
	if err != nil {
		return 0, fmt.Errorf("rule number %q is not a number (see ferry rules list)", arg)
	}
	if n == 0 {
		return 0, errors.New("there are no rules")
	}
	if i < 1 || i > n {
		return 0, fmt.Errorf("rule %d does not exist: there are %d rules (1-%d)", i, n, n)
	}
	return i - 1, nil
}

// Insert returns rs with r inserted at the 0-based position at; more than
// MaxRules rules is an error.
func Insert(rs []Rule, r Rule, at int) ([]Rule, error) {
	if at < 0 || at > len(rs) {
		return nil, fmt.Errorf("position %d: must be from 1 to %d", at+1, len(rs)+1)
	}
	if len(rs) >= MaxRules {
		return nil, fmt.Errorf("at most %d rules are allowed and there are already %d; remove one first (ferry rules remove N)", MaxRules, len(rs))
	}
	out := append([]Rule(nil), rs[:at]...)
	out = append(out, r)
	return append(out, rs[at:]...), nil
}

// Remove returns rs without rule i (0-based).
func Remove(rs []Rule, i int) []Rule {
	out := append([]Rule(nil), rs[:i]...)
	return append(out, rs[i+1:]...)
}

// Move returns rs with rule i moved to position j (both 0-based).
func Move(rs []Rule, i, j int) []Rule {
	out := Remove(rs, i)
	return append(out[:j], append([]Rule{rs[i]}, out[j:]...)...)
}

// Clone returns a copy of r whose lists can be changed without changing r.
func (r Rule) Clone() Rule {
	r.Headers.Pass = append([]string(nil), r.Headers.Pass...)
	r.Headers.Remove = append([]string(nil), r.Headers.Remove...)
	r.Headers.Set = append([]HeaderValue(nil), r.Headers.Set...)
	r.WhenHeaders = append([]HeaderValue(nil), r.WhenHeaders...)
	r.OriginList = append([]Origin(nil), r.OriginList...)
	r.FailoverOn = append([]string(nil), r.FailoverOn...)
	r.PassStatus = append([]int(nil), r.PassStatus...)
	return r
}

// ParseHeaderValue parses "Name: value".
func ParseHeaderValue(s string) (HeaderValue, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return HeaderValue{}, fmt.Errorf("%q: write \"Name: value\"", s)
	}
	return HeaderValue{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}, nil
}

package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// The ferry rules commands on a Source, one call each: what they change,
// what they refuse and what they say. Errors about the arguments are
// *InputError or *Error; the file is left as it was after any error.

// InputError is a bad argument or input of a rules command (a rule number,
// a position, a flag's value, an imported file): nothing was changed. The
// CLI exits 2 on it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(format string, a ...any) error {
	return &InputError{fmt.Errorf(format, a...)}
}

// index is Index for a command argument (an *InputError).
func index(arg string, n int) (int, error) {
	i, err := Index(arg, n)
	if err != nil {
		return 0, &InputError{err}
	}
	return i, nil
}

// redact is s.Redact, or the identity.
func (s Source) redact(v string) string {
	if s.Redact == nil {
		return v
	}
	return s.Redact(v)
}

// WriteList writes the rules in effect for people (WriteTable), or as a
// JSON array.
func (s Source) WriteList(w io.Writer, set *Set, asJSON bool) error {
	if asJSON {
		out := set.Rules
		if out == nil {
			out = []Rule{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(set.Rules) == 0 {
		where := "no config file"
		if s.ConfigFile != "" {
			where = s.ConfigFile
		}
		_, err := fmt.Fprintf(w, "no rules (%s): a missing key is answered 404\n", where)
		return err
	}
	WriteTable(w, set.Rules, s.redact)
	return nil
}

// Validate loads the rules strictly, refuses a mirror loop (CheckLoop) and
// says what it found.
func (s Source) Validate() (set *Set, done string, err error) {
	if set, err = s.Load(); err != nil {
		return nil, "", err
	}
	if err := CheckLoop(set, s.Self); err != nil {
		return nil, "", inputErrorf("config file %s: %w", s.ConfigFile, err)
	}
	if s.ConfigFile == "" {
		return set, "no config file: no rules", nil
	}
	done = fmt.Sprintf("%s: %d rules OK", s.ConfigFile, len(set.Rules))
	if len(set.Warnings) > 0 {
		done += fmt.Sprintf(" (%d warnings)", len(set.Warnings))
	}
	return set, done, nil
}

// Add makes a rule of p (following redirects and answering HEAD unless p
// says otherwise) and inserts it as rule *position (1-based; nil: last).
func (s Source) Add(p Patch, position *int) (*Set, string, error) {
	r := Rule{FollowRedirects: true, MirrorHead: true}
	if err := p.Apply(&r); err != nil {
		return nil, "", &InputError{err}
	}
	var at int
	set, err := s.Edit(func(rs []Rule) ([]Rule, error) {
		at = len(rs)
		if position != nil {
			at = *position - 1
		}
		out, err := Insert(rs, r, at)
		if err != nil {
			return nil, inputErrorf("rules add: %w", err)
		}
		return out, nil
	})
	if err != nil {
		return nil, "", err
	}
	return set, fmt.Sprintf("added rule %d to %s", at+1, s.Path()), nil
}

// Change applies p to rule arg (1-based, as given).
func (s Source) Change(arg string, p Patch) (*Set, string, error) {
	var idx int
	set, err := s.Edit(func(rs []Rule) ([]Rule, error) {
		i, err := index(arg, len(rs))
		if err != nil {
			return nil, err
		}
		idx = i
		out := append([]Rule(nil), rs...)
		r := out[i].Clone()
		if err := p.Apply(&r); err != nil {
			return nil, &InputError{err}
		}
		out[i] = r
		return out, nil
	})
	if err != nil {
		return nil, "", err
	}
	return set, fmt.Sprintf("changed rule %d in %s", idx+1, s.Path()), nil
}

// RemoveRule removes rule arg (1-based, as given); the rules after it move
// up.
func (s Source) RemoveRule(arg string) (string, error) {
	var removed Rule
	var idx int
	_, err := s.Edit(func(rs []Rule) ([]Rule, error) {
		i, err := index(arg, len(rs))
		if err != nil {
			return nil, err
		}
		idx, removed = i, rs[i]
		return Remove(rs, i), nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("removed rule %d (origin %s) from %s", idx+1, removed.OriginsText(s.redact), s.Path()), nil
}

// MoveRule moves rule arg (1-based, as given) to position to (1-based).
func (s Source) MoveRule(arg string, to int) (string, error) {
	var from int
	_, err := s.Edit(func(rs []Rule) ([]Rule, error) {
		i, err := index(arg, len(rs))
		if err != nil {
			return nil, err
		}
		j, err := Index(fmt.Sprint(to), len(rs))
		if err != nil {
			return nil, inputErrorf("--to: %w", err)
		}
		from = i
		return Move(rs, i, j), nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("moved rule %d to %d in %s", from+1, to, s.Path()), nil
}

// Imported is what Import did.
type Imported struct {
	Warnings []string // of the format's conversion
	Set      *Set     // the rules now in effect (nil after an error)
	Done     string
}

// Import reads rules in a cloud's format (Import) from data, named name in
// messages, validates them and writes them: into a file without rules, or
// replacing (replace) or appending to (appendRules) the rules there. The
// conversion's warnings are in the result after an error of the write too.
func (s Source) Import(format, name string, data []byte, replace, appendRules bool) (*Imported, error) {
	imported, warn, err := Import(format, data)
	if err != nil {
		return nil, inputErrorf("rules import: %s: %w", name, err)
	}
	if _, err := NewSet(imported); err != nil {
		return nil, inputErrorf("rules import: %s: %w", name, err)
	}
	res := &Imported{Warnings: warn}
	res.Set, err = s.Edit(func(rs []Rule) ([]Rule, error) {
		switch {
		case len(rs) == 0 || replace:
			return imported, nil
		case appendRules:
			return append(append([]Rule(nil), rs...), imported...), nil
		}
		return nil, inputErrorf("rules import: %s already has %d rules: pass --replace or --append", s.Path(), len(rs))
	})
	if err != nil {
		return res, err
	}
	res.Done = fmt.Sprintf("imported %d rules into %s (%d rules now)", len(imported), s.Path(), len(res.Set.Rules))
	return res, nil
}

// ClearAll is rules clear: it removes every rule in effect (Clear) once
// confirm (nil: no question) accepts removing n rules from file, and says
// what it did and where the backup is.
func (s Source) ClearAll(backupDir string, confirm func(n int, file string) error) (string, error) {
	set, err := s.Load()
	if err != nil {
		return "", err
	}
	if len(set.Rules) == 0 {
		return fmt.Sprintf("no rules to clear in %s", s.Path()), nil
	}
	if confirm != nil {
		if err := confirm(len(set.Rules), s.ConfigFile); err != nil {
			return "", err
		}
	}
	done, backup, err := s.Clear(backupDir)
	if err != nil {
		return "", err
	}
	if backup != "" {
		done += "\nbackup: " + backup
	}
	return done, nil
}

// ParseHeaders parses the client headers "Name: value" that rules test
// stands for the client's request.
func ParseHeaders(values []string) (http.Header, error) {
	h := http.Header{}
	for _, v := range values {
		hv, err := ParseHeaderValue(v)
		if err != nil {
			return nil, inputErrorf("--header %w", err)
		}
		h.Add(hv.Name, hv.Value)
	}
	return h, nil
}

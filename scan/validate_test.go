package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
)

// Options are checked before anything is opened; every refusal is an
// *OptionError.
func TestOptionChecks(t *testing.T) {
	for s, want := range map[string][2]int{"": {0, 0}, "0/4": {0, 4}, "3/4": {3, 4}} {
		if i, n, err := ParseShard(s); err != nil || i != want[0] || n != want[1] {
			t.Errorf("ParseShard(%q) = %d, %d, %v", s, i, n, err)
		}
	}
	var oe *OptionError
	for _, s := range []string{"4/4", "1", "-1/2", "a/b", "0/0"} {
		if _, _, err := ParseShard(s); !errors.As(err, &oe) || !strings.Contains(err.Error(), "want i/n") {
			t.Errorf("ParseShard(%q) = %v", s, err)
		}
	}
	for s, want := range map[string]bool{"": true, "size": true, "none": false} {
		if got, err := ParseCompare(s); err != nil || got != want {
			t.Errorf("ParseCompare(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseCompare("md5"); !errors.As(err, &oe) {
		t.Errorf("ParseCompare(md5) = %v", err)
	}
	if err := (&Options{Include: []string{"*.jpg"}, Exclude: []string{"{a"}}).Validate(); !errors.As(err, &oe) || !strings.Contains(err.Error(), `glob "{a"`) {
		t.Errorf("Validate of a bad glob = %v", err)
	}
	for _, c := range []struct {
		o       Options
		command string
		want    string // "" : accepted
	}{
		{Options{OriginURL: "o"}, "scan", ""},
		{Options{KeysName: "-"}, "finalize", ""},
		{Options{}, "scan", "scan needs a source"},
		{Options{}, "finalize", "finalize needs a source"},
		{Options{OriginURL: "o", KeysName: "k"}, "scan", ""},
		{Options{OriginURL: "o", KeysName: "k"}, "finalize", "not both"},
		{Options{OriginURL: "o", Journals: []string{"["}}, "finalize", "--journal "},
	} {
		err := c.o.ValidateSource(c.command)
		if c.want == "" && err != nil || c.want != "" && (!errors.As(err, &oe) || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s %+v: %v, want %q", c.command, c.o, err, c.want)
		}
	}
	keys := Options{KeysName: "k"}
	if !keys.NeedsRules() || keys.CheckRules() == nil {
		t.Error("a key list without an origin or rules is accepted")
	}
	keys.Rules = &rules.Set{Rules: []rules.Rule{{}}}
	if err := keys.CheckRules(); err != nil {
		t.Errorf("a key list with rules: %v", err)
	}
	if _, err := ParseRates(-1, "", Prices{}); !errors.As(err, &oe) {
		t.Errorf("a negative rate: %v", err)
	}
	if r, err := ParseRates(5, "2K", Prices{}); err != nil || r.BytesPerSec != 2048 || r.ObjectsPerSec != 5 {
		t.Errorf("ParseRates = %+v, %v", r, err)
	}
	if _, err := ParseRates(0, "fast", Prices{}); !errors.As(err, &oe) || !strings.Contains(err.Error(), `--rate-bytes "fast"`) {
		t.Errorf("a bad byte rate: %v", err)
	}
}

// Whether a run is complete is its Err: nil, or an *IncompleteError.
func TestVerdict(t *testing.T) {
	var ie *IncompleteError
	if err := (&Result{}).Err("x"); err != nil {
		t.Errorf("a complete run: %v", err)
	}
	err := (&Result{Stats: Stats{Failed: 2}, Manifest: "m"}).Err("ferry scan --keys m")
	if !errors.As(err, &ie) || err.Error() != "scan finished with 2 failed, 0 missing, 0 size mismatches; retry the failed keys with: ferry scan --keys m" {
		t.Errorf("an incomplete run: %v", err)
	}
	if err := (&Report{Complete: true}).Err(true); err != nil {
		t.Errorf("a complete target: %v", err)
	}
	if err := (&Report{StillMissing: 1}).Err(true); !errors.As(err, &ie) || !strings.HasSuffix(err.Error(), "; the rules were kept") {
		t.Errorf("an incomplete target: %v", err)
	}
	res := &Result{Mode: "list", DryRun: true, Stats: Stats{Listed: 10, Missing: 4, MissingBytes: 4 << 20}}
	sum := res.Summary(Rates{ObjectsPerSec: 2}, Prices{})
	b, _ := json.Marshal(sum)
	var buf bytes.Buffer
	sum.WriteSummary(&buf, "")
	if !bytes.Contains(b, []byte(`"estimate":`)) || !bytes.Contains(b, []byte(`"missing":4`)) || !strings.Contains(buf.String(), "estimate: 4 objects") {
		t.Errorf("a dry run's summary lacks the estimate: %s\n%s", b, buf.String())
	}
	if (&Result{}).Summary(Rates{}, Prices{}) == nil {
		t.Error("no summary")
	}
	for s, want := range map[string]string{"a/b.jsonl": "a/b.jsonl", "": "''", "it's": `'it'\''s'`, "a b": "'a b'"} {
		if got := ShellQuote(s); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestKeyErrorNamesSideOnce: a failed existence check's manifest entry has
// the side as its reason, and its error does not say it again.
func TestKeyErrorNamesSideOnce(t *testing.T) {
	err := &sideError{reasonTarget, errors.New(`blob (key "k"): connection refused`)}
	if r, e := reason(err), keyErrorText(err); r != "target" || e != `blob (key "k"): connection refused` {
		t.Errorf("reason %q, error %q", r, e)
	}
	// Wrapped deeper, the side stays in the text.
	wrapped := fmt.Errorf("copy %q: %w", "k", err)
	if e := keyErrorText(wrapped); e != wrapped.Error() {
		t.Errorf("wrapped: %q", e)
	}
}

package scan

import (
	"fmt"
	"io"
	"strings"

	"github.com/ferry-migrate/ferry/internal/confval"
)

// IncompleteError says a run finished, but not every key made it: some
// failed or are missing (a scan, finalize, the workers of a plan). The CLI
// exits 3 on it.
type IncompleteError struct{ Err error }

func (e *IncompleteError) Error() string { return e.Err.Error() }
func (e *IncompleteError) Unwrap() error { return e.Err }

// Incompletef is an *IncompleteError with a formatted message.
func Incompletef(format string, a ...any) error {
	return &IncompleteError{fmt.Errorf(format, a...)}
}

// Err is nil for a complete run (Stats.Complete), else an *IncompleteError
// with the counts and, when a failure manifest was written, retry: the
// command that retries its keys.
func (r *Result) Err(retry string) error {
	if r.Complete() {
		return nil
	}
	hint := ""
	if r.Manifest != "" {
		hint = "; retry the failed keys with: " + retry
	}
	unlisted := ""
	if r.Unlisted > 0 {
		unlisted = fmt.Sprintf(", %d origin paths left out of the listing", r.Unlisted)
	}
	return Incompletef("scan finished with %d failed, %d missing, %d size mismatches%s%s", r.Failed, r.Missing, r.SizeMismatch, unlisted, hint)
}

// Err is nil for a complete target, else an *IncompleteError with the
// counts; kept says the rules were kept because of it.
func (r *Report) Err(kept bool) error {
	if r.Complete {
		return nil
	}
	msg := fmt.Errorf("target is not complete: %d missing, %d size mismatches, %d content mismatches, %d failed",
		r.StillMissing, r.SizeMismatches, r.ContentMismatches, r.Failed)
	if r.Unlisted > 0 {
		msg = fmt.Errorf("%w, %d origin paths not listable", msg, r.Unlisted)
	}
	if kept {
		msg = fmt.Errorf("%w; the rules were kept", msg)
	}
	return &IncompleteError{msg}
}

// Summary is what a run reports: its summary for people, and itself as
// JSON.
type Summary interface {
	WriteSummary(w io.Writer, retry string)
}

// Estimated is a dry run's result with the estimate of the copy it found
// (as "estimate" in JSON).
type Estimated struct {
	*Result
	Estimate Estimate `json:"estimate"`
}

// WriteSummary writes the result's summary, then the estimate.
func (e *Estimated) WriteSummary(w io.Writer, retry string) {
	e.Result.WriteSummary(w, retry)
	e.Estimate.WriteText(w)
}

// Summary is r, or for a dry run r with the estimate of copying what it
// found missing at rates and prices.
func (r *Result) Summary(rates Rates, prices Prices) Summary {
	if !r.DryRun {
		return r
	}
	est := NewEstimate(Counted(r.Listed, r.ListedBytes), Counted(r.Missing, r.MissingBytes), r.Mode == "list", rates, prices)
	return &Estimated{r, est}
}

// ParseRates checks the rates and prices of an estimate; bytesPerSec is a
// size such as 200M ("": none). Errors are *OptionError.
func ParseRates(objectsPerSec float64, bytesPerSec string, prices Prices) (Rates, error) {
	r := Rates{ObjectsPerSec: objectsPerSec}
	if bytesPerSec != "" {
		n, err := confval.ParseSize(bytesPerSec)
		if err != nil {
			return r, optionErrorf("--rate-bytes %q: %v", bytesPerSec, err)
		}
		r.BytesPerSec = float64(n)
	}
	if r.ObjectsPerSec < 0 || prices.EgressPerGB < 0 || prices.Per1000Requests < 0 {
		return r, optionErrorf("rates and prices must not be negative")
	}
	return r, nil
}

// ShellQuote quotes s for a POSIX shell when it needs it (in the commands
// a summary suggests).
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

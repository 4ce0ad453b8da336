package scan

import (
	"fmt"
	"io"
)

// WriteSummary writes the summary of a run for people: counts, bytes, rate,
// the target (redacted), the failures and size mismatches sampled, and the
// failure manifest with retry, the command that retries it.
func (r *Result) WriteSummary(w io.Writer, retry string) {
	verb := "copied"
	if r.DryRun {
		verb = "would copy"
	}
	n, bytes := r.Copied, r.CopiedBytes
	if r.DryRun {
		n, bytes = r.Missing, r.MissingBytes
	}
	rate := 0.0
	if r.Seconds > 0 {
		rate = float64(r.CopiedBytes) / r.Seconds / (1 << 20)
	}
	fmt.Fprintf(w, "scan (%s): %d keys, %s %d (%s), skipped %d already present, failed %d",
		r.Mode, r.Listed, verb, n, FormatBytes(bytes), r.Skipped, r.Failed)
	if r.Vanished > 0 {
		fmt.Fprintf(w, ", %d gone from the origin", r.Vanished)
	}
	if r.SizeMismatch > 0 {
		fmt.Fprintf(w, ", %d size mismatches", r.SizeMismatch)
	}
	if r.Unlisted > 0 {
		fmt.Fprintf(w, ", %d left out of the origin's listing", r.Unlisted)
	}
	fmt.Fprintf(w, " in %.1fs (%.1f MiB/s, %.0f objects/s)\n", r.Seconds, rate, float64(r.Processed())/max(r.Seconds, 1e-9))
	fmt.Fprintf(w, "target: %s\n", r.Target)
	if r.Resumed > 0 {
		fmt.Fprintf(w, "resumed after %d keys done by an interrupted run\n", r.Resumed)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failed %q: %s: %s\n", f.Key, f.Reason, f.Error)
	}
	for _, k := range r.SizeMismatchKeys {
		fmt.Fprintf(w, "  size differs %q\n", k)
	}
	for _, p := range r.UnlistedPaths {
		fmt.Fprintf(w, "  not listed %q (see the warning)\n", p)
	}
	if r.Manifest != "" {
		fmt.Fprintf(w, "failure manifest: %s (retry with: %s)\n", r.Manifest, retry)
	}
}

// WriteSummary writes the readiness report for people: whether the target
// (redacted) is complete, every count with samples of the keys, and the
// duration.
func (r *Report) WriteSummary(w io.Writer) {
	state := "COMPLETE"
	if !r.Complete {
		state = "NOT COMPLETE"
	}
	fmt.Fprintf(w, "finalize: target %s\n", state)
	fmt.Fprintf(w, "  target              %s\n", r.Target)
	fmt.Fprintf(w, "  origin keys         %d\n", r.OriginKeys)
	fmt.Fprintf(w, "  present             %d\n", r.Present)
	fmt.Fprintf(w, "  copied now          %d%s\n", r.CopiedNow, sample(r.CopiedSample))
	fmt.Fprintf(w, "  still missing       %d%s\n", r.StillMissing, sample(r.MissingSample))
	fmt.Fprintf(w, "  size mismatches     %d%s\n", r.SizeMismatches, sample(r.SizeSample))
	if r.ContentVerified > 0 || r.ContentMismatches > 0 {
		fmt.Fprintf(w, "  content mismatches  %d of %d compared%s\n", r.ContentMismatches, r.ContentVerified, sample(r.ContentSample))
	}
	fmt.Fprintf(w, "  failed              %d\n", r.Failed)
	for _, f := range r.FailedSample {
		fmt.Fprintf(w, "      %q: %s: %s\n", f.Key, f.Reason, f.Error)
	}
	if r.Unlisted > 0 {
		fmt.Fprintf(w, "  not listable        %d (origin paths no listing reads: see the warnings)%s\n", r.Unlisted, sample(r.UnlistedSample))
	}
	if r.NotInOrigin > 0 {
		fmt.Fprintf(w, "  not in the origin   %d (earlier failures the origin no longer has)%s\n", r.NotInOrigin, sample(r.NotInOriginSample))
	}
	fmt.Fprintf(w, "  earlier failures    %d rechecked\n", r.RetriedKeys)
	fmt.Fprintf(w, "  duration            %.1fs\n", r.Seconds)
}

func sample(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	s := "  e.g."
	for _, k := range keys {
		s += fmt.Sprintf(" %q", k)
	}
	return s
}

// FormatBytes formats a byte count with a binary unit (1.5 MiB).
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

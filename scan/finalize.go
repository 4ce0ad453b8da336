package scan

import "context"

// Report is finalize's readiness report.
type Report struct {
	Complete          bool       `json:"complete"`
	Target            string     `json:"target,omitempty"` // the target URL, redacted
	OriginKeys        int64      `json:"origin_keys"`
	Present           int64      `json:"present"`
	CopiedNow         int64      `json:"copied_now"`
	StillMissing      int64      `json:"still_missing"`
	SizeMismatches    int64      `json:"size_mismatches"`
	ContentMismatches int64      `json:"content_mismatches"`
	ContentVerified   int64      `json:"content_verified"`
	Failed            int64      `json:"failed"`
	NotInOrigin       int64      `json:"not_in_origin"`
	Unlisted          int64      `json:"unlisted"`     // origin paths its listing could not list (Stats.Unlisted)
	RetriedKeys       int        `json:"retried_keys"` // failed keys from manifests and journals
	Seconds           float64    `json:"duration_seconds"`
	Manifest          string     `json:"failure_manifest,omitempty"`
	CopiedSample      []string   `json:"copied_sample,omitempty"`
	MissingSample     []string   `json:"missing_sample,omitempty"`
	SizeSample        []string   `json:"size_mismatch_sample,omitempty"`
	ContentSample     []string   `json:"content_mismatch_sample,omitempty"`
	FailedSample      []KeyError `json:"failed_sample,omitempty"`
	NotInOriginSample []string   `json:"not_in_origin_sample,omitempty"`
	UnlistedSample    []string   `json:"unlisted_sample,omitempty"`
}

// Finalize is the last sweep before the rules go: one copy pass over the
// whole source plus the keys that failed before (o.Extra, and, with a state
// dir, the keys of its failure manifests and of serve's journals, see
// StateDir.FailedKeys), then, for a listable origin, a second listing-only
// pass that verifies every origin key is in the target with the same size.
// With o.Checksum the content of keys present on both sides is compared too.
// The report is Complete only when nothing is missing, different or failed
// (Stats.Complete).
func Finalize(ctx context.Context, o Options) (*Report, error) {
	o.CompareSize = true
	o.DryRun = false
	o.command = "finalize"
	if o.StateDir != "" {
		failed, err := StateDir(o.StateDir).FailedKeys(o.Journals)
		if err != nil {
			return nil, err
		}
		o.Extra = union(o.Extra, failed)
	}
	closeAll, err := o.open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	res, err := Run(ctx, o)
	if err != nil {
		return nil, err
	}
	// final is the target's state: present (found or copied now), still
	// missing (a key that failed is), ...
	final, missing, sizes := res.Stats, res.MissingKeys, res.SizeMismatchKeys
	final.Skipped += res.Copied
	final.Missing += res.Failed
	for _, f := range res.Failures {
		if len(missing) < max(o.Samples, 10) {
			missing = append(missing, f.Key)
		}
	}
	if o.Keys == nil {
		// Verify with a fresh listing-only pass.
		v := o
		v.DryRun, v.Checksum, v.Extra, v.StateDir, v.RunID = true, false, nil, "", ""
		v.Progress = nil
		vres, err := Run(ctx, v)
		if err != nil {
			return nil, err
		}
		// ... or, with a listable origin, what a fresh listing finds.
		final.Listed, final.Skipped, final.Missing, final.SizeMismatch = vres.Listed, vres.Skipped, vres.Missing, vres.SizeMismatch
		final.Unlisted, res.UnlistedPaths = vres.Unlisted, vres.UnlistedPaths
		missing, sizes = vres.MissingKeys, vres.SizeMismatchKeys
		res.Seconds += vres.Seconds
	}
	return newReport(res, final, len(o.Extra), missing, sizes), nil
}

// newReport builds the report of a finalize run from the copy pass's result
// and the final counts.
func newReport(res *Result, final Stats, retried int, missing, sizes []string) *Report {
	return &Report{
		Complete:          final.Complete(),
		Target:            res.Target,
		OriginKeys:        final.Listed,
		Present:           final.Skipped,
		CopiedNow:         res.Copied,
		StillMissing:      final.Missing,
		SizeMismatches:    final.SizeMismatch,
		ContentMismatches: final.ContentDiffer,
		ContentVerified:   final.Verified,
		Failed:            final.Failed,
		NotInOrigin:       res.Vanished,
		RetriedKeys:       retried,
		Seconds:           res.Seconds,
		Manifest:          res.Manifest,
		CopiedSample:      res.CopiedKeys,
		MissingSample:     missing,
		SizeSample:        sizes,
		ContentSample:     res.ContentKeys,
		FailedSample:      res.Failures,
		NotInOriginSample: res.VanishedKeys,
		Unlisted:          final.Unlisted,
		UnlistedSample:    res.UnlistedPaths,
	}
}

// union returns a's keys followed by those of b that a lacks.
func union(a, b []string) []string {
	seen := make(map[string]bool, len(a))
	for _, k := range a {
		seen[k] = true
	}
	out := append([]string(nil), a...)
	for _, k := range b {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

package scan

import "context"

// Report is finalize's readiness report.
type Report struct {
	Complete          bool       `json:"complete"`
	OriginKeys        int64      `json:"origin_keys"`
	Present           int64      `json:"present"`
	CopiedNow         int64      `json:"copied_now"`
	StillMissing      int64      `json:"still_missing"`
	SizeMismatches    int64      `json:"size_mismatches"`
	ContentMismatches int64      `json:"content_mismatches"`
	ContentVerified   int64      `json:"content_verified"`
	Failed            int64      `json:"failed"`
	NotInOrigin       int64      `json:"not_in_origin"`
	RetriedKeys       int        `json:"retried_keys"` // failed keys from manifests and journals
	Seconds           float64    `json:"duration_seconds"`
	Manifest          string     `json:"failure_manifest,omitempty"`
	CopiedSample      []string   `json:"copied_sample,omitempty"`
	MissingSample     []string   `json:"missing_sample,omitempty"`
	SizeSample        []string   `json:"size_mismatch_sample,omitempty"`
	ContentSample     []string   `json:"content_mismatch_sample,omitempty"`
	FailedSample      []KeyError `json:"failed_sample,omitempty"`
	NotInOriginSample []string   `json:"not_in_origin_sample,omitempty"`
}

// Finalize is the last sweep before the rules go: one copy pass over the
// whole source (plus o.Extra, the keys that failed earlier), then, for a
// listable origin, a second listing-only pass that verifies every origin key
// is in the target with the same size. With o.Checksum the content of keys
// present on both sides is compared too. The report is Complete only when
// nothing is missing, different or failed.
func Finalize(ctx context.Context, o Options) (*Report, error) {
	o.CompareSize = true
	o.DryRun = false
	res, err := Run(ctx, o)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		OriginKeys:        res.Listed,
		Present:           res.Skipped + res.Copied,
		CopiedNow:         res.Copied,
		SizeMismatches:    res.SizeMismatch,
		ContentMismatches: res.ContentDiffer,
		ContentVerified:   res.Verified,
		Failed:            res.Failed,
		StillMissing:      res.Failed + res.Missing,
		NotInOrigin:       res.Vanished,
		RetriedKeys:       len(o.Extra),
		Seconds:           res.Seconds,
		Manifest:          res.Manifest,
		CopiedSample:      res.CopiedKeys,
		MissingSample:     res.MissingKeys,
		SizeSample:        res.SizeMismatchKeys,
		ContentSample:     res.ContentKeys,
		FailedSample:      res.Failures,
		NotInOriginSample: res.VanishedKeys,
	}
	for _, f := range res.Failures {
		if len(rep.MissingSample) < max(o.Samples, 10) {
			rep.MissingSample = append(rep.MissingSample, f.Key)
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
		rep.OriginKeys = vres.Listed
		rep.Present = vres.Skipped
		rep.StillMissing = vres.Missing
		rep.SizeMismatches = vres.SizeMismatch
		rep.MissingSample = vres.MissingKeys
		rep.SizeSample = vres.SizeMismatchKeys
		rep.Seconds += vres.Seconds
	}
	rep.Complete = rep.StillMissing == 0 && rep.SizeMismatches == 0 && rep.ContentMismatches == 0 && rep.Failed == 0
	return rep, nil
}

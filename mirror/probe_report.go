package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// ProbeTimeout bounds Check.
const ProbeTimeout = 10 * time.Second

// Check is rules test --fetch: it probes the origin (Probe, within
// ProbeTimeout) with the request a fill of req.Key sends, shown being that
// request as rules.Set.Explain showed it, writes the answer (Report) and
// returns an error when a fill would not store the key: the origin's
// answer, or why there was none.
func Check(ctx context.Context, o Options, shown *rules.Request, req Request, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	p, err := Probe(ctx, o, req)
	switch {
	case shown.BucketURL != "" && errors.Is(err, ErrNotFound):
		return fmt.Errorf("origin bucket: %q not found: a fill would answer 404", shown.Key)
	case shown.BucketURL != "" && err != nil:
		return fmt.Errorf("origin bucket: %s", store.Explain(err))
	case err != nil:
		return fmt.Errorf("origin HEAD %s: %w", shown.URL.Redacted(), err)
	}
	return p.Report(w)
}

// Report writes the probe's answer for a person (rules test --fetch) and
// returns an error when a fill would not store the key.
func (p *ProbeResult) Report(w io.Writer) error {
	if p.Meta != nil {
		fmt.Fprintf(w, "origin answered: found\n  Size: %d\n", p.Meta.Size)
		if p.Meta.ContentType != "" {
			fmt.Fprintf(w, "  Content-Type: %s\n", p.Meta.ContentType)
		}
		if p.Meta.ETag != "" {
			fmt.Fprintf(w, "  ETag: %s\n", p.Meta.ETag)
		}
		return nil
	}
	fmt.Fprintf(w, "origin answered: %s", p.StatusText)
	if p.Redirects > 0 {
		fmt.Fprintf(w, " (after %d redirects, from %s)", p.Redirects, p.URL)
	}
	fmt.Fprintln(w)
	for _, h := range []string{"Content-Length", "Content-Type", "ETag", "Last-Modified", "Location"} {
		if v := p.Header.Get(h); v != "" {
			fmt.Fprintf(w, "  %s: %s\n", h, v)
		}
	}
	if !p.OK() {
		return fmt.Errorf("origin answered %s: a fill would not store this key", p.StatusText)
	}
	return nil
}

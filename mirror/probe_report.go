package mirror

import (
	"fmt"
	"io"
)

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

package rules

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteTable writes the rules as a numbered table for people, their origin
// URLs passed through redact.
func WriteTable(w io.Writer, rs []Rule, redact func(string) string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tNAME\tKEY_PREFIX\tKEY_SUFFIX\tORIGIN\tOPTIONS")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return strconv.Quote(s)
	}
	for i, r := range rs {
		name := r.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, name, dash(r.KeyPrefix), dash(r.KeySuffix), r.OriginsText(redact), r.Options())
	}
	tw.Flush()
}

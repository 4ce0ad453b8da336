package rules

import (
	"strconv"
	"strings"
	"testing"
)

// TestYAMLErrorLine: a YAML error points at the line where the file stops
// being YAML, for the parser's and the scanner's errors alike (the YAML
// library reports the parser's one line too high, or at the start of the
// construct), and names the construct's first line when it is an earlier
// one.
func TestYAMLErrorLine(t *testing.T) {
	for _, tt := range []struct {
		in    string
		line  int
		start int // the construct's first line named in the message (0: none)
	}{
		{"target: file:///x\nserve:\n  listen: [unclosed\n", 3, 0},
		{"target: [a\n", 1, 0},
		{"a: 1\nb: [1,\nc: 2\n", 3, 2}, // c: 2 is where the unclosed list of line 2 breaks
		{"a: 1\nb: {x: 1\n", 2, 0},
		{"a: 1\nb: 2\nc: d: e\n", 3, 0},
		{"a: 1\n b: 2\nc: 3\n", 2, 0},
		{"a: 1\nb: \"x\n", 2, 0},
		{"a: 1\n\tb: 2\n", 2, 0},
		{"- a\nb: 1\n", 2, 1}, // the list that lacks its "-" starts on line 1
		// A key indented wrong, deep in the top-level mapping of line 1.
		{"target: file:///x\nserve:\n  listen: \":1\"\n grace: 1s\n", 4, 1},
		{"# rules\nrules:\n  - origin: http://a/\n    key_prefix: a/\n   host: b\n", 5, 3},
		{"rules:\n  - origin: http://a/\n  key_prefix: a/\n", 3, 2},
	} {
		e := YAMLError([]byte(tt.in))
		if e == nil {
			t.Errorf("%q: no error", tt.in)
			continue
		}
		if e.Line != tt.line {
			t.Errorf("%q: line %d, want %d (%s)", tt.in, e.Line, tt.line, e.Msg)
		}
		if where := "starts on line "; tt.start > 0 && !strings.Contains(e.Msg, where+strconv.Itoa(tt.start)+")") ||
			tt.start == 0 && strings.Contains(e.Msg, where) {
			t.Errorf("%q: message %q, want the construct's line %d named (0: none)", tt.in, e.Msg, tt.start)
		}
	}
}

package rules

import "testing"

// TestYAMLErrorLine: a YAML error points at the line of the broken
// construct, for the parser's and the scanner's errors alike (the YAML
// library reports the parser's one line too high).
func TestYAMLErrorLine(t *testing.T) {
	for _, tt := range []struct {
		in   string
		line int
	}{
		{"target: file:///x\nserve:\n  listen: [unclosed\n", 3},
		{"target: [a\n", 1},
		{"a: 1\nb: [1,\nc: 2\n", 2},
		{"a: 1\nb: {x: 1\n", 2},
		{"a: 1\nb: 2\nc: d: e\n", 3},
		{"a: 1\n b: 2\nc: 3\n", 2},
		{"a: 1\nb: \"x\n", 2},
		{"a: 1\n\tb: 2\n", 2},
		{"- a\nb: 1\n", 1}, // the list that lacks its "-" starts on line 1
	} {
		e := YAMLError([]byte(tt.in))
		if e == nil {
			t.Errorf("%q: no error", tt.in)
			continue
		}
		if e.Line != tt.line {
			t.Errorf("%q: line %d, want %d (%s)", tt.in, e.Line, tt.line, e.Msg)
		}
	}
}

package scan

import "testing"

// TestGlobs: brace alternatives, classes, "*" within a path element, "**"
// across elements, and base-name matching for a pattern without "/".
func TestGlobs(t *testing.T) {
	for _, tt := range []struct {
		pattern, key string
		want         bool
	}{
		{"*.{txt,html}", "a.txt", true},
		{"*.{txt,html}", "dir/index.html", true},
		{"*.{txt,html}", "a.css", false},
		{"site/*.{css,js}", "site/app.js", true},
		{"site/*.{css,js}", "site/x/app.js", false},
		{"site/**/*.js", "site/x/y/app.js", true},
		{"site/**", "site/x/y/app.js", true},
		{"**", "a/b/c", true},
		{"img/?.jpg", "img/a.jpg", true},
		{"img/?.jpg", "img/ab.jpg", false},
		{"[!a]*.txt", "b.txt", true},
		{"[!a]*.txt", "a.txt", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
	} {
		g, err := CompileGlob(tt.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tt.pattern, err)
		}
		if got := g.match(tt.key); got != tt.want {
			t.Errorf("%q on %q = %v, want %v", tt.pattern, tt.key, got, tt.want)
		}
	}
	for _, bad := range []string{"", "a[b", "{a,b", `a\`} {
		if _, err := CompileGlob(bad); err == nil {
			t.Errorf("CompileGlob(%q) accepted", bad)
		}
	}
}

package rules

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestExplain: rules test's explanation names the rule and why it matched,
// the exact origin request and the fill settings, or says that no rule
// matches; Options and OriginsText summarise a rule for rules list.
func TestExplain(t *testing.T) {
	set, err := Parse(strings.NewReader("- name: images\n  key_prefix: img/\n  origin: http://h/dir/\n  follow_redirects: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	redact := func(s string) string { return "<" + s + ">" }
	var b bytes.Buffer
	r, req, err := set.Explain(&b, "img/a.jpg", http.Header{}, "", redact)
	if err != nil || r == nil || req == nil {
		t.Fatalf("Explain: %v %v %v", r, req, err)
	}
	for _, want := range []string{`rule 1 (images) matches "img/a.jpg" (key_prefix "img/")`, "GET http://h/dir/img/a.jpg", "stored as:     img/a.jpg", "follow_redirects: false"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("explanation lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if r, _, err := set.Explain(&b, "doc/a.txt", http.Header{}, "", redact); r != nil || err != nil || !strings.Contains(b.String(), "no rule matches") {
		t.Errorf("no match: %v %v %q", r, err, b.String())
	}
	if _, _, err := set.Explain(&b, "img/../x", http.Header{}, "", redact); err == nil {
		t.Error("an unsafe key was explained")
	}
	rule := set.Rules[0]
	if got := rule.Options(); got != "follow_redirects=false" {
		t.Errorf("Options = %q", got)
	}
	if got := rule.OriginsText(redact); got != "<http://h/dir/>" {
		t.Errorf("OriginsText = %q", got)
	}
}

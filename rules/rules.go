// Package rules is the back-to-origin rule model: strict parsing, matching,
// header policy and safe origin URL building. Standard library plus a YAML
// parser only.
package rules

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// MaxRules is the most rules a configuration may hold.
const MaxRules = 5

// Rule says when and how to go back to the origin for a key the target lacks.
// Parse applies the defaults (FollowRedirects and MirrorHead true).
type Rule struct {
	Name                 string  `yaml:"name,omitempty" json:"name,omitempty"`
	KeyPrefix            string  `yaml:"key_prefix,omitempty" json:"key_prefix,omitempty"`
	KeySuffix            string  `yaml:"key_suffix,omitempty" json:"key_suffix,omitempty"`
	Origin               string  `yaml:"origin" json:"origin"`
	ReplaceKeyPrefixWith string  `yaml:"replace_key_prefix_with,omitempty" json:"replace_key_prefix_with,omitempty"`
	ReplaceKeyWith       string  `yaml:"replace_key_with,omitempty" json:"replace_key_with,omitempty"`
	PassQueryString      bool    `yaml:"pass_query_string,omitempty" json:"pass_query_string"`
	FollowRedirects      bool    `yaml:"follow_redirects" json:"follow_redirects"`
	MirrorHead           bool    `yaml:"mirror_head" json:"mirror_head"`
	Headers              Headers `yaml:"headers,omitempty" json:"headers"`
}

// Headers is the header policy of a rule: start empty (or with every client
// header when PassAll), add Pass, drop Remove, then apply Set in order.
type Headers struct {
	PassAll bool          `yaml:"pass_all,omitempty" json:"pass_all"`
	Pass    []string      `yaml:"pass,omitempty" json:"pass,omitempty"`
	Remove  []string      `yaml:"remove,omitempty" json:"remove,omitempty"`
	Set     []HeaderValue `yaml:"set,omitempty" json:"set,omitempty"`
}

// HeaderValue is one header a rule sets on origin requests.
type HeaderValue struct {
	Name  string `yaml:"name" json:"name"`
	Value string `yaml:"value" json:"value"`
}

// Set is an ordered list of rules; the first rule whose conditions hold wins.
type Set struct {
	Rules    []Rule
	Warnings []string // non-fatal findings, e.g. pass_all without removing Host
}

// Error is a rule parsing or validation error. Rule is 1-based (0 when the
// error is about the list as a whole); Line is the YAML line when known.
type Error struct {
	Rule  int
	Field string
	Line  int
	Msg   string
}

func (e *Error) Error() string {
	s := "rules"
	if e.Rule > 0 {
		s += ": rule " + itoa(e.Rule)
	}
	if e.Line > 0 {
		s += " (line " + itoa(e.Line) + ")"
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

func itoa(i int) string {
	return strconv.Itoa(i)
}

// ErrKeyRefused is wrapped by OriginRequest errors for keys that cannot be
// mapped safely onto the rule's origin (dot segments, empty segments,
// control characters, ...).
var ErrKeyRefused = errors.New("key refused")

// Parse reads a YAML list of rules strictly.
func Parse(r io.Reader) (*Set, error) {
	return nil, errors.New("rules.Parse: not implemented yet")
}

// ParseConfig reads the rules: section of a whole ferry.yaml (other keys are
// ignored here). A file without rules gives an empty Set.
func ParseConfig(r io.Reader) (*Set, error) {
	return nil, errors.New("rules.ParseConfig: not implemented yet")
}

// Match returns the 0-based index and the first rule whose conditions hold
// for key, or -1 and nil.
func (s *Set) Match(key string) (int, *Rule) {
	return -1, nil
}

// IsBucket reports whether the rule's origin is a bucket URL (s3://, gs://,
// file://, ...) rather than an http(s) MirrorURL.
func (r *Rule) IsBucket() bool { return false }

// Request is the exact origin request a fill sends for one key.
type Request struct {
	// HTTP origins.
	URL    *url.URL
	Header http.Header // after the header policy; never hop-by-hop headers
	Host   string      // Host to send when the policy sets or passes one; "" = URL host
	// Bucket origins.
	BucketURL string // the rule's origin bucket URL
	Key       string // the key to read in that bucket (after rewriting)
}

// OriginRequest builds the origin request for key under rule r. A key can
// never change the scheme, host or port, nor escape the origin's path prefix;
// such keys are refused with an error wrapping ErrKeyRefused.
func OriginRequest(r *Rule, key string, client http.Header, rawQuery string) (*Request, error) {
	return nil, errors.New("rules.OriginRequest: not implemented yet")
}

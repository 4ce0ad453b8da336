// Package rules is the back-to-origin rule model: strict parsing, matching,
// header policy and safe origin URL building. Standard library plus a YAML
// parser only.
package rules

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
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
// Header names keep the case they were configured with.
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

// Parse reads a YAML list of rules strictly: an unknown field, a value of the
// wrong type, a duplicate rule name, a forbidden header or more than MaxRules
// rules is an *Error naming the rule, the field and the line. Order and
// header-name case are kept. An empty document gives an empty Set.
func Parse(r io.Reader) (*Set, error) {
	doc, err := readDoc(r)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return &Set{}, nil
	}
	return parseList(doc)
}

// ParseConfig reads the rules: section of a whole ferry.yaml (other keys are
// ignored here). A file without rules gives an empty Set.
func ParseConfig(r io.Reader) (*Set, error) {
	doc, err := readDoc(r)
	if err != nil {
		return nil, err
	}
	if doc == nil || isNull(doc) {
		return &Set{}, nil
	}
	if doc.Kind != yaml.MappingNode {
		return nil, &Error{Line: doc.Line, Msg: "the config file must be a mapping of keys"}
	}
	_, v := RulesNode(doc)
	if v == nil {
		return &Set{}, nil
	}
	return parseList(v)
}

// RulesNode returns the key and value nodes of the top-level rules: entry of
// a config mapping, or nils when there is none.
func RulesNode(root *yaml.Node) (key, value *yaml.Node) {
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "rules" {
			return root.Content[i], root.Content[i+1]
		}
	}
	return nil, nil
}

// readDoc parses one YAML document and returns its root node, or nil for an
// empty document.
func readDoc(r io.Reader) (*yaml.Node, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, YAMLError(data)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// YAMLError returns the *Error, with its line, of data that the YAML
// library refuses (nil if it does not). The library counts the lines of its
// parser errors (an unclosed "[", a missing key) from 0, and then reports the
// start of the broken construct, or the problem when the construct starts on
// the first line; scanner errors are counted from 1. For a parser error data
// is parsed again after an added blank line, which makes the line the
// construct's, counted from 1.
func YAMLError(data []byte) *Error {
	var doc yaml.Node
	err := yaml.Unmarshal(data, &doc)
	if err == nil {
		return nil
	}
	msg, line := splitYAMLError(err)
	if slices.Contains(parserErrors, msg) {
		if err := yaml.Unmarshal(append([]byte("\n"), data...), &doc); err != nil {
			msg, line = splitYAMLError(err)
		}
	}
	return &Error{Line: line, Msg: "invalid YAML: " + msg}
}

// splitYAMLError splits "yaml: line N: msg".
func splitYAMLError(err error) (msg string, line int) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				return strings.TrimSpace(rest[i+1:]), n
			}
		}
	}
	return msg, 0
}

// parserErrors are the messages of the YAML library's parser (as opposed to
// its scanner).
var parserErrors = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"found undefined tag handle", "did not find expected node content",
	"did not find expected '-' indicator", "did not find expected key",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found duplicate %YAML directive", "found incompatible YAML document", "found duplicate %TAG directive",
}

// NewSet validates rules built in code (by the CLI or an import) exactly as
// Parse validates a file, without applying defaults: the Rule values are
// taken as they are (empty header lists become nil, as Parse returns them).
func NewSet(rules []Rule) (*Set, error) {
	s := &Set{Rules: append([]Rule(nil), rules...)}
	for i := range s.Rules {
		h := &s.Rules[i].Headers
		if len(h.Pass) == 0 {
			h.Pass = nil
		}
		if len(h.Remove) == 0 {
			h.Remove = nil
		}
		if len(h.Set) == 0 {
			h.Set = nil
		}
	}
	if err := s.validate(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Match returns the 0-based index and the first rule whose conditions hold
// for key, or -1 and nil. A rule with neither key_prefix nor key_suffix
// matches every key.
func (s *Set) Match(key string) (int, *Rule) {
	if s == nil {
		return -1, nil
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		if strings.HasPrefix(key, r.KeyPrefix) && strings.HasSuffix(key, r.KeySuffix) {
			return i, r
		}
	}
	return -1, nil
}

// bucketSchemes are the origin URL schemes read through a bucket API.
var bucketSchemes = map[string]bool{"s3": true, "gs": true, "azblob": true, "file": true, "mem": true}

// IsBucket reports whether the rule's origin is a bucket URL (s3://, gs://,
// file://, ...) rather than an http(s) MirrorURL.
func (r *Rule) IsBucket() bool {
	scheme, _, ok := strings.Cut(r.Origin, "://")
	return ok && bucketSchemes[strings.ToLower(scheme)]
}

// Request is the exact origin request a fill sends for one key.
type Request struct {
	// HTTP origins.
	URL *url.URL
	// Header is the result of the header policy. Names keep the case they
	// were configured with (or the client's, for pass_all), so look them up
	// with HeaderValues rather than Header.Get. It never holds hop-by-hop,
	// conditional, Range, Authorization or x-amz-* headers, nor Host.
	Header http.Header
	Host   string // Host to send when the policy sets or passes one; "" = URL host
	// Bucket origins.
	BucketURL string // the rule's origin bucket URL
	Key       string // the key to read in that bucket (after rewriting)
}

// HeaderValues returns the values of header name in h, matching names
// case-insensitively (Request.Header keeps configured case).
func HeaderValues(h http.Header, name string) []string {
	var vs []string
	for k, v := range h {
		if strings.EqualFold(k, name) {
			vs = append(vs, v...)
		}
	}
	return vs
}

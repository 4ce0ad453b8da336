// Package rules is the back-to-origin rule model: strict parsing, matching,
// header policy and safe origin URL building. Standard library plus a YAML
// parser only.
package rules

import (
	"bytes"
	"encoding/json"
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

// MaxOrigins is the most origins one rule may list for failover (as
// Volcengine TOS allows 5 origin addresses).
const MaxOrigins = 5

// MaxWhenHeaders is the most header conditions one rule may have (as
// Alibaba OSS allows 10 IncludeHeader conditions).
const MaxWhenHeaders = 10

// Rule says when and how to go back to the origin for a key the target lacks.
// Parse applies the defaults (FollowRedirects and MirrorHead true, and
// storing, i.e. NoStore false); a Rule built in code gets the zero values.
//
// A rule has either Origin (the one-origin form, origin: in YAML) or
// OriginList (origins:, tried in order); Origins returns either as a list.
type Rule struct {
	Name                 string        `yaml:"name,omitempty" json:"name,omitempty"`
	KeyPrefix            string        `yaml:"key_prefix,omitempty" json:"key_prefix,omitempty"`
	KeySuffix            string        `yaml:"key_suffix,omitempty" json:"key_suffix,omitempty"`
	WhenHeaders          []HeaderValue `yaml:"when_headers,omitempty" json:"when_headers,omitempty"`
	Origin               string        `yaml:"origin,omitempty" json:"origin,omitempty"`
	OriginList           []Origin      `yaml:"origins,omitempty" json:"origins,omitempty"`
	FailoverOn           []string      `yaml:"failover_on,omitempty" json:"failover_on,omitempty"`
	ReplaceKeyPrefixWith string        `yaml:"replace_key_prefix_with,omitempty" json:"replace_key_prefix_with,omitempty"`
	ReplaceKeyWith       string        `yaml:"replace_key_with,omitempty" json:"replace_key_with,omitempty"`
	PassQueryString      bool          `yaml:"pass_query_string,omitempty" json:"pass_query_string"`
	FollowRedirects      bool          `yaml:"follow_redirects" json:"follow_redirects"`
	MirrorHead           bool          `yaml:"mirror_head" json:"mirror_head"`
	PassStatus           []int         `yaml:"pass_status,omitempty" json:"pass_status,omitempty"`
	// NoStore is "store: false": the origin's answer is streamed to the
	// client and nothing is stored. It is inverted so that a Rule built in
	// code stores, as the default file rule does.
	NoStore bool    `yaml:"-" json:"-"`
	Headers Headers `yaml:"headers,omitempty" json:"headers"`
}

// MarshalJSON writes the rule with "store" (true unless NoStore), the
// spelling of the config file.
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	return json.Marshal(struct {
		plain
		Store bool `json:"store"`
	}{plain(r), !r.NoStore})
}

// Origin is one origin of a rule: an http(s) MirrorURL or a bucket URL, and
// for HTTP origins the Host header to send to it ("" = the header policy's
// Host, else the URL's host).
type Origin struct {
	URL  string `yaml:"url" json:"url"`
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
}

// IsBucket reports whether the origin is a bucket URL (s3://, gs://,
// file://, ...) rather than an http(s) MirrorURL.
func (o Origin) IsBucket() bool {
	scheme, _, ok := strings.Cut(o.URL, "://")
	return ok && bucketSchemes[strings.ToLower(scheme)]
}

// Origins returns the rule's origins in the order a fill tries them: the
// origins: list, or origin: as a list of one (nil for a rule without any).
// The slice is the rule's own for origins:; do not modify it.
func (r *Rule) Origins() []Origin {
	if len(r.OriginList) > 0 {
		return r.OriginList
	}
	if r.Origin == "" {
		return nil
	}
	return []Origin{{URL: r.Origin}}
}

// Stores reports whether a fill of this rule stores the object in the
// target (store: true, the default) or only streams it (store: false).
func (r *Rule) Stores() bool {
	return !r.NoStore
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
// scanner errors from 1, but reports a parser error (an unclosed "[", a
// missing key, a key indented wrong) at the start of the broken construct,
// counted from 0, or, when that construct starts on the first line, at the
// problem counted from 0. For a parser error the line given is the problem's
// (the first line at which the file read up to there fails with the same
// message), and the message names the line where the construct starts when
// that is an earlier one: a mis-indented key deep in a mapping that starts
// on line 1 is reported on its own line.
func YAMLError(data []byte) *Error {
	var doc yaml.Node
	err := yaml.Unmarshal(data, &doc)
	if err == nil {
		return nil
	}
	msg, line := splitYAMLError(err)
	if !slices.Contains(parserErrors, msg) {
		return &Error{Line: line, Msg: "invalid YAML: " + msg}
	}
	// Parsed after an added blank line, the construct's start is never on
	// the first line, so the library names it, counted from 1.
	start := line
	if err := yaml.Unmarshal(append([]byte("\n"), data...), &doc); err != nil {
		_, start = splitYAMLError(err)
	}
	problem := start
	if lines := bytes.SplitAfter(data, []byte("\n")); len(lines) <= maxYAMLErrorLines {
		for k := 1; k <= len(lines); k++ {
			if err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &doc); err != nil {
				if m, _ := splitYAMLError(err); m == msg {
					problem = k
					break
				}
			}
		}
	}
	if problem > start {
		return &Error{Line: problem, Msg: "invalid YAML: " + msg + " (in the mapping or list that starts on line " + itoa(start) + ")"}
	}
	return &Error{Line: start, Msg: "invalid YAML: " + msg}
}

// maxYAMLErrorLines bounds the files whose parser errors YAMLError locates
// by reading them again line by line (a quadratic cost).
const maxYAMLErrorLines = 5000

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
		s.Rules[i].normalize()
	}
	if err := s.validate(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// normalize makes every empty list nil, as Parse returns them.
func (r *Rule) normalize() {
	h := &r.Headers
	h.Pass = nilIfEmpty(h.Pass)
	h.Remove = nilIfEmpty(h.Remove)
	h.Set = nilIfEmpty(h.Set)
	r.WhenHeaders = nilIfEmpty(r.WhenHeaders)
	r.OriginList = nilIfEmpty(r.OriginList)
	r.FailoverOn = nilIfEmpty(r.FailoverOn)
	r.PassStatus = nilIfEmpty(r.PassStatus)
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Match returns the 0-based index and the first rule whose conditions hold
// for key, or -1 and nil. A rule with neither key_prefix nor key_suffix
// matches every key. Match is MatchRequest without request headers: a rule
// with when_headers never matches here (scan's key lists and finalize have
// no client request).
func (s *Set) Match(key string) (int, *Rule) {
	return s.MatchRequest(key, nil)
}

// MatchRequest returns the 0-based index and the first rule whose
// conditions all hold for a client request of key with headers h, or -1 and
// nil. h holds the client's request headers as for OriginRequest (serve puts
// the client's Host under "Host"); header names match case-insensitively,
// values exactly (see Rule.UnmetHeader).
func (s *Set) MatchRequest(key string, h http.Header) (int, *Rule) {
	if s == nil {
		return -1, nil
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		if !r.MatchesKey(key) {
			continue
		}
		if _, unmet := r.UnmetHeader(h); !unmet {
			return i, r
		}
	}
	return -1, nil
}

// MatchesKey reports whether key starts with the rule's key_prefix and ends
// with its key_suffix (the key conditions, without when_headers).
func (r *Rule) MatchesKey(key string) bool {
	return strings.HasPrefix(key, r.KeyPrefix) && strings.HasSuffix(key, r.KeySuffix)
}

// UnmetHeader returns the first when_headers condition that the request
// headers h do not satisfy, and true; or false when all hold. A condition
// holds when one of the request's values of that header (name matched
// case-insensitively) equals the configured value exactly, byte for byte,
// as Alibaba OSS compares IncludeHeader's Equals.
func (r *Rule) UnmetHeader(h http.Header) (HeaderValue, bool) {
	for _, c := range r.WhenHeaders {
		if !hasValue(h, c.Name, c.Value) {
			return c, true
		}
	}
	return HeaderValue{}, false
}

func hasValue(h http.Header, name, value string) bool {
	for k, vs := range h {
		if !strings.EqualFold(k, name) {
			continue
		}
		for _, v := range vs {
			if v == value {
				return true
			}
		}
	}
	return false
}

// bucketSchemes are the origin URL schemes read through a bucket API.
var bucketSchemes = map[string]bool{"s3": true, "gs": true, "azblob": true, "file": true, "mem": true}

// IsBucket reports whether the rule's first origin is a bucket URL (s3://,
// gs://, file://, ...) rather than an http(s) MirrorURL. With several origins,
// ask each of Origins.
func (r *Rule) IsBucket() bool {
	os := r.Origins()
	return len(os) > 0 && os[0].IsBucket()
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
	Host   string // Host to send when the origin or the policy sets one; "" = URL host
	// Bucket origins.
	BucketURL string // the origin's bucket URL
	Key       string // the key to read in that bucket (after rewriting)
	// OriginIndex is the 0-based index in Rule.Origins of the origin this
	// request is for.
	OriginIndex int
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

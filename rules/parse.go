package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lines remembers the YAML line of each field of one rule, keyed like
// Error.Field ("origin", "headers.set[2].name"), so validation errors found
// after decoding still point at the right line.
type lines map[string]int

func (l lines) of(field string) int {
	for field != "" {
		if n, ok := l[field]; ok {
			return n
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return l[""]
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return deref(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		case "!!null":
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected value"
}

func parseList(n *yaml.Node) (*Set, error) {
	n = deref(n)
	if isNull(n) {
		return &Set{}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, &Error{Line: n.Line, Field: "rules", Msg: "expected a list of rules (\"- origin: ...\"), got " + describe(n)}
	}
	if len(n.Content) > MaxRules {
		return nil, &Error{Rule: MaxRules + 1, Line: deref(n.Content[MaxRules]).Line,
			Msg: fmt.Sprintf("too many rules: at most %d are allowed, got %d", MaxRules, len(n.Content))}
	}
	s := &Set{}
	var ls []lines
	for i, item := range n.Content {
		r, l, err := decodeRule(i+1, deref(item))
		if err != nil {
			return nil, err
		}
		s.Rules = append(s.Rules, r)
		ls = append(ls, l)
	}
	if err := s.validate(ls); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeRule decodes one rule mapping strictly and applies the defaults.
func decodeRule(num int, n *yaml.Node) (Rule, lines, error) {
	r := Rule{FollowRedirects: true, MirrorHead: true}
	l := lines{"": n.Line}
	if n.Kind != yaml.MappingNode {
		return Rule{}, nil, &Error{Rule: num, Line: n.Line,
			Msg: "expected a mapping of rule fields (origin, key_prefix, ...), got " + describe(n)}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), deref(n.Content[i+1])
		key := kn.Value
		var err error
		switch {
		case seen[key]:
			err = &Error{Field: key, Line: kn.Line, Msg: "field appears twice"}
		case !slices.Contains(ruleFields, key):
			err = &Error{Field: key, Line: kn.Line, Msg: fmt.Sprintf("unknown field%s (known: %s)",
				suggest(key, ruleFields), strings.Join(ruleFields, ", "))}
		default:
			seen[key] = true
			l[key] = kn.Line
			err = decodeField(&r, key, vn, l)
		}
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				e = &Error{Field: key, Line: vn.Line, Msg: err.Error()}
			}
			e.Rule = num
			return Rule{}, nil, e
		}
	}
	return r, l, nil
}

// decodeField decodes the value of one known rule field into r. Errors about
// the value itself are plain errors (reported at the value's line); errors
// inside it are *Error with their own field and line.
func decodeField(r *Rule, key string, vn *yaml.Node, l lines) error {
	var err error
	switch key {
	case "name":
		r.Name, err = str(vn)
	case "key_prefix":
		r.KeyPrefix, err = str(vn)
	case "key_suffix":
		r.KeySuffix, err = str(vn)
	case "when_headers":
		r.WhenHeaders, err = headerValues(vn, key, l, "when_headers needs a value to compare with")
	case "origin":
		r.Origin, err = str(vn)
	case "origins":
		r.OriginList, err = decodeOrigins(vn, l)
	case "failover_on":
		r.FailoverOn, err = decodeFailover(vn, l)
	case "replace_key_prefix_with":
		r.ReplaceKeyPrefixWith, err = str(vn)
	case "replace_key_with":
		r.ReplaceKeyWith, err = str(vn)
	case "pass_query_string":
		r.PassQueryString, err = boolean(vn)
	case "follow_redirects":
		r.FollowRedirects, err = boolean(vn)
	case "mirror_head":
		r.MirrorHead, err = boolean(vn)
	case "pass_status":
		r.PassStatus, err = decodeStatuses(vn, l)
	case "store":
		var store bool
		store, err = boolean(vn)
		r.NoStore = !store
	case "headers":
		r.Headers, err = decodeHeaders(vn, l)
	}
	return err
}

var ruleFields = []string{"name", "key_prefix", "key_suffix", "when_headers", "origin", "origins", "failover_on",
	"replace_key_prefix_with", "replace_key_with", "pass_query_string", "follow_redirects", "mirror_head",
	"pass_status", "store", "headers"}

var headerFields = []string{"pass_all", "pass", "remove", "set"}

// suggest returns ` "key" (did you mean "x"?)` for a near miss of a known
// field, else ` "key"`.
func suggest(key string, known []string) string {
	if k := Suggest(key, known); k != "" {
		return fmt.Sprintf(" %q (did you mean %q?)", key, k)
	}
	return fmt.Sprintf(" %q", key)
}

func decodeHeaders(n *yaml.Node, l lines) (Headers, error) {
	var h Headers
	if isNull(n) {
		return h, nil
	}
	if n.Kind != yaml.MappingNode {
		return h, &Error{Field: "headers", Line: n.Line, Msg: "expected a mapping (pass_all, pass, remove, set), got " + describe(n)}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), deref(n.Content[i+1])
		field := "headers." + kn.Value
		if seen[kn.Value] {
			return Headers{}, &Error{Field: field, Line: kn.Line, Msg: "field appears twice"}
		}
		seen[kn.Value] = true
		l[field] = kn.Line
		var err error
		switch kn.Value {
		case "pass_all":
			h.PassAll, err = boolean(vn)
		case "pass":
			h.Pass, err = strList(vn, field, l)
		case "remove":
			h.Remove, err = strList(vn, field, l)
		case "set":
			h.Set, err = headerValues(vn, field, l, "use headers.remove to drop a header")
		default:
			return Headers{}, &Error{Field: field, Line: kn.Line,
				Msg: fmt.Sprintf("unknown field%s (known: pass_all, pass, remove, set)", suggest(kn.Value, headerFields))}
		}
		if err != nil {
			if e, ok := err.(*Error); ok {
				return Headers{}, e
			}
			return Headers{}, &Error{Field: field, Line: vn.Line, Msg: err.Error()}
		}
	}
	return h, nil
}

// headerValues decodes a list of {name, value} mappings (headers.set,
// when_headers). hint completes the "missing value" message.
func headerValues(n *yaml.Node, field string, l lines, hint string) ([]HeaderValue, error) {
	if isNull(n) {
		return nil, nil
	}
	var out []HeaderValue
	err := eachItem(n, field, l, "a list of {name, value}", true, func(f string, item *yaml.Node) error {
		if item.Kind != yaml.MappingNode {
			return &Error{Field: f, Line: item.Line, Msg: "expected {name: ..., value: ...}, got " + describe(item)}
		}
		fields, err := scalarFields(item, f, []string{"name", "value"})
		if err != nil {
			return err
		}
		if _, ok := fields["name"]; !ok {
			return &Error{Field: f, Line: item.Line, Msg: "missing name"}
		}
		if _, ok := fields["value"]; !ok {
			return &Error{Field: f, Line: item.Line, Msg: "missing value (" + hint + ")"}
		}
		out = append(out, HeaderValue{Name: fields["name"], Value: fields["value"]})
		return nil
	})
	return out, err
}

// scalarFields decodes a mapping whose fields are all strings, refusing
// unknown and repeated fields. The result holds only the fields present.
func scalarFields(item *yaml.Node, f string, known []string) (map[string]string, error) {
	out := map[string]string{}
	for k := 0; k+1 < len(item.Content); k += 2 {
		kn, vn := deref(item.Content[k]), deref(item.Content[k+1])
		field := f + "." + kn.Value
		if !slices.Contains(known, kn.Value) {
			return nil, &Error{Field: field, Line: kn.Line,
				Msg: fmt.Sprintf("unknown field %q (known: %s)", kn.Value, strings.Join(known, ", "))}
		}
		if _, dup := out[kn.Value]; dup {
			return nil, &Error{Field: field, Line: kn.Line, Msg: "field appears twice"}
		}
		v, err := str(vn)
		if err != nil {
			return nil, &Error{Field: field, Line: vn.Line, Msg: err.Error()}
		}
		out[kn.Value] = v
	}
	return out, nil
}

// eachItem calls fn for each item of the list n, named field[i] (1-based)
// and with its line recorded; what describes the list expected. An empty
// list is an error unless allowEmpty.
func eachItem(n *yaml.Node, field string, l lines, what string, allowEmpty bool, fn func(f string, item *yaml.Node) error) error {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 && !allowEmpty {
		return fmt.Errorf("expected %s, got %s", what, describe(n))
	}
	for i, item := range n.Content {
		item = deref(item)
		f := fmt.Sprintf("%s[%d]", field, i+1)
		l[f] = item.Line
		if err := fn(f, item); err != nil {
			return err
		}
	}
	return nil
}

// decodeOrigins decodes origins: a list whose entries are a URL or a
// mapping {url, host}.
func decodeOrigins(n *yaml.Node, l lines) ([]Origin, error) {
	var out []Origin
	err := eachItem(n, "origins", l, "a list of origins (URLs, or {url: ..., host: ...})", false, func(f string, item *yaml.Node) error {
		if item.Kind != yaml.MappingNode {
			u, err := str(item)
			if err != nil {
				return &Error{Field: f, Line: item.Line, Msg: "expected a URL or {url: ..., host: ...}, got " + describe(item)}
			}
			out = append(out, Origin{URL: u})
			return nil
		}
		fields, err := scalarFields(item, f, []string{"url", "host"})
		if err != nil {
			return err
		}
		if _, ok := fields["url"]; !ok {
			return &Error{Field: f, Line: item.Line, Msg: "missing url"}
		}
		out = append(out, Origin{URL: fields["url"], Host: fields["host"]})
		return nil
	})
	return out, err
}

// decodeFailover decodes failover_on: a list of words (network, 5xx, ...)
// and status codes, kept as written (numbers in decimal) for validate.
func decodeFailover(n *yaml.Node, l lines) ([]string, error) {
	var out []string
	err := eachItem(n, "failover_on", l, "a list such as [network, timeout, 5xx, 404]", false, func(f string, item *yaml.Node) error {
		s, err := str(item)
		if err != nil {
			return &Error{Field: f, Line: item.Line, Msg: "expected network, timeout, 4xx, 5xx or a status code, got " + describe(item)}
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// decodeStatuses decodes pass_status: a list of HTTP status codes.
func decodeStatuses(n *yaml.Node, l lines) ([]int, error) {
	var out []int
	err := eachItem(n, "pass_status", l, "a list of status codes such as [403, 410]", false, func(f string, item *yaml.Node) error {
		code, err := strconv.Atoi(item.Value)
		if item.Kind != yaml.ScalarNode || item.Tag != "!!int" || err != nil {
			return &Error{Field: f, Line: item.Line, Msg: "expected a status code such as 403, got " + describe(item)}
		}
		out = append(out, code)
		return nil
	})
	return out, err
}

// str decodes a scalar as a string. Numbers and dates are taken as written
// (key_prefix: 2024-01-01 is a prefix); booleans, lists and mappings are
// errors.
func str(n *yaml.Node) (string, error) {
	if isNull(n) {
		return "", nil
	}
	if n.Kind == yaml.ScalarNode {
		switch n.Tag {
		case "!!str", "!!int", "!!float", "!!timestamp", "":
			return n.Value, nil
		}
	}
	return "", fmt.Errorf("expected a string, got %s", describe(n))
}

func boolean(n *yaml.Node) (bool, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("expected true or false, got %s", describe(n))
}

func strList(n *yaml.Node, field string, l lines) ([]string, error) {
	if isNull(n) {
		return nil, nil
	}
	var out []string
	err := eachItem(n, field, l, "a list of header names", true, func(f string, item *yaml.Node) error {
		s, err := str(item)
		if err != nil {
			return &Error{Field: f, Line: item.Line, Msg: err.Error()}
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

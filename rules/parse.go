package rules

import (
	"fmt"
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
	fail := func(field string, n *yaml.Node, format string, args ...any) (Rule, lines, error) {
		return Rule{}, nil, &Error{Rule: num, Field: field, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind != yaml.MappingNode {
		return fail("", n, "expected a mapping of rule fields (origin, key_prefix, ...), got %s", describe(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), deref(n.Content[i+1])
		key := kn.Value
		if seen[key] {
			return fail(key, kn, "field appears twice")
		}
		seen[key] = true
		l[key] = kn.Line
		var err error
		switch key {
		case "name":
			r.Name, err = str(vn)
		case "key_prefix":
			r.KeyPrefix, err = str(vn)
		case "key_suffix":
			r.KeySuffix, err = str(vn)
		case "origin":
			r.Origin, err = str(vn)
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
		case "headers":
			var e *Error
			r.Headers, e = decodeHeaders(num, vn, l)
			if e != nil {
				return Rule{}, nil, e
			}
		default:
			return fail(key, kn, "unknown field%s (known: name, key_prefix, key_suffix, origin, replace_key_prefix_with, replace_key_with, pass_query_string, follow_redirects, mirror_head, headers)", suggest(key, ruleFields))
		}
		if err != nil {
			return fail(key, vn, "%v", err)
		}
	}
	return r, l, nil
}

var ruleFields = []string{"name", "key_prefix", "key_suffix", "origin", "replace_key_prefix_with",
	"replace_key_with", "pass_query_string", "follow_redirects", "mirror_head", "headers"}

var headerFields = []string{"pass_all", "pass", "remove", "set"}

// suggest returns ` "key" (did you mean "x"?)` for a near miss of a known
// field, else ` "key"`.
func suggest(key string, known []string) string {
	if k := Suggest(key, known); k != "" {
		return fmt.Sprintf(" %q (did you mean %q?)", key, k)
	}
	return fmt.Sprintf(" %q", key)
}

func decodeHeaders(num int, n *yaml.Node, l lines) (Headers, *Error) {
	var h Headers
	fail := func(field string, n *yaml.Node, format string, args ...any) (Headers, *Error) {
		return Headers{}, &Error{Rule: num, Field: field, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
	}
	if isNull(n) {
		return h, nil
	}
	if n.Kind != yaml.MappingNode {
		return fail("headers", n, "expected a mapping (pass_all, pass, remove, set), got %s", describe(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), deref(n.Content[i+1])
		field := "headers." + kn.Value
		if seen[kn.Value] {
			return fail(field, kn, "field appears twice")
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
			if isNull(vn) {
				continue
			}
			if vn.Kind != yaml.SequenceNode {
				return fail(field, vn, "expected a list of {name, value}, got %s", describe(vn))
			}
			for j, item := range vn.Content {
				item = deref(item)
				f := fmt.Sprintf("%s[%d]", field, j+1)
				l[f] = item.Line
				if item.Kind != yaml.MappingNode {
					return fail(f, item, "expected {name: ..., value: ...}, got %s", describe(item))
				}
				var hv HeaderValue
				var haveName, haveValue bool
				for k := 0; k+1 < len(item.Content); k += 2 {
					ikn, ivn := deref(item.Content[k]), deref(item.Content[k+1])
					switch ikn.Value {
					case "name":
						if haveName {
							return fail(f+".name", ikn, "field appears twice")
						}
						haveName = true
						hv.Name, err = str(ivn)
					case "value":
						if haveValue {
							return fail(f+".value", ikn, "field appears twice")
						}
						haveValue = true
						hv.Value, err = str(ivn)
					default:
						return fail(f+"."+ikn.Value, ikn, "unknown field %q (known: name, value)", ikn.Value)
					}
					if err != nil {
						return fail(f+"."+ikn.Value, ivn, "%v", err)
					}
				}
				if !haveName {
					return fail(f, item, "missing name")
				}
				if !haveValue {
					return fail(f, item, "missing value (use headers.remove to drop a header)")
				}
				h.Set = append(h.Set, hv)
			}
		default:
			return fail(field, kn, "unknown field%s (known: pass_all, pass, remove, set)", suggest(kn.Value, headerFields))
		}
		if err != nil {
			if e, ok := err.(*Error); ok {
				e.Rule = num
				return Headers{}, e
			}
			return fail(field, vn, "%v", err)
		}
	}
	return h, nil
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
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("expected a list of header names, got %s", describe(n))
	}
	var out []string
	for i, item := range n.Content {
		item = deref(item)
		f := fmt.Sprintf("%s[%d]", field, i+1)
		l[f] = item.Line
		s, err := str(item)
		if err != nil {
			return nil, &Error{Field: f, Line: item.Line, Msg: err.Error()}
		}
		out = append(out, s)
	}
	return out, nil
}

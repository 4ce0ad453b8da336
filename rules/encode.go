package rules

import (
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Node returns rules as a YAML sequence node in the form Parse reads back:
// fields in a fixed order, defaults (follow_redirects and mirror_head true)
// and empty fields left out.
func Node(rules []Rule) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i := range rules {
		seq.Content = append(seq.Content, ruleNode(&rules[i]))
	}
	if len(rules) == 0 {
		seq.Style = yaml.FlowStyle
	}
	return seq
}

// MarshalConfig returns "rules:" followed by the rules, as YAML text ready
// to be placed at the top level of a config file.
func MarshalConfig(rules []Rule) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		strNode("rules"), Node(rules),
	}}
	return encodeYAML(doc)
}

func strNode(s string) *yaml.Node {
	var n yaml.Node
	if err := n.Encode(s); err != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
	}
	return &n
}

func boolNode(b bool) *yaml.Node {
	v := "false"
	if b {
		v = "true"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v}
}

func intNode(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

func flowSeq(items []*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle, Content: items}
}

// headerValuesNode writes {name, value} pairs one per line, in flow style.
func headerValuesNode(hs []HeaderValue) *yaml.Node {
	s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, hv := range hs {
		s.Content = append(s.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle,
			Content: []*yaml.Node{strNode("name"), strNode(hv.Name), strNode("value"), strNode(hv.Value)}})
	}
	return s
}

func ruleNode(r *Rule) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	add := func(k string, v *yaml.Node) { m.Content = append(m.Content, strNode(k), v) }
	addStr := func(k, v string) {
		if v != "" {
			add(k, strNode(v))
		}
	}
	addStr("name", r.Name)
	addStr("key_prefix", r.KeyPrefix)
	addStr("key_suffix", r.KeySuffix)
	if len(r.WhenHeaders) > 0 {
		add("when_headers", headerValuesNode(r.WhenHeaders))
	}
	if len(r.OriginList) > 0 {
		add("origins", originsNode(r.OriginList))
	} else {
		add("origin", strNode(r.Origin))
	}
	if len(r.FailoverOn) > 0 {
		var items []*yaml.Node
		for _, v := range r.FailoverOn {
			if n, ok := failoverStatus(v); ok {
				items = append(items, intNode(n))
			} else {
				items = append(items, strNode(v))
			}
		}
		add("failover_on", flowSeq(items))
	}
	addStr("replace_key_prefix_with", r.ReplaceKeyPrefixWith)
	addStr("replace_key_with", r.ReplaceKeyWith)
	if r.PassQueryString {
		add("pass_query_string", boolNode(true))
	}
	if !r.FollowRedirects {
		add("follow_redirects", boolNode(false))
	}
	if !r.MirrorHead {
		add("mirror_head", boolNode(false))
	}
	if len(r.PassStatus) > 0 {
		var items []*yaml.Node
		for _, c := range r.PassStatus {
			items = append(items, intNode(c))
		}
		add("pass_status", flowSeq(items))
	}
	if r.NoStore {
		add("store", boolNode(false))
	}
	if hm := headersNode(&r.Headers); hm != nil {
		add("headers", hm)
	}
	return m
}

// originsNode writes each origin as its URL, or as {url, host} when it has
// a Host.
func originsNode(os []Origin) *yaml.Node {
	s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, o := range os {
		if o.Host == "" {
			s.Content = append(s.Content, strNode(o.URL))
			continue
		}
		s.Content = append(s.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle,
			Content: []*yaml.Node{strNode("url"), strNode(o.URL), strNode("host"), strNode(o.Host)}})
	}
	return s
}

// headersNode writes the header policy, or nil when it is empty.
func headersNode(h *Headers) *yaml.Node {
	if !h.PassAll && len(h.Pass)+len(h.Remove)+len(h.Set) == 0 {
		return nil
	}
	hm := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	hadd := func(k string, v *yaml.Node) { hm.Content = append(hm.Content, strNode(k), v) }
	list := func(names []string) *yaml.Node {
		var items []*yaml.Node
		for _, n := range names {
			items = append(items, strNode(n))
		}
		return flowSeq(items)
	}
	if h.PassAll {
		hadd("pass_all", boolNode(true))
	}
	if len(h.Pass) > 0 {
		hadd("pass", list(h.Pass))
	}
	if len(h.Remove) > 0 {
		hadd("remove", list(h.Remove))
	}
	if len(h.Set) > 0 {
		hadd("set", headerValuesNode(h.Set))
	}
	return hm
}

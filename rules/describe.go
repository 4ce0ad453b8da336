package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Options summarises everything but the conditions and the origin, as
// ferry rules list shows it ("-" for none).
func (r *Rule) Options() string {
	var o []string
	if r.ReplaceKeyPrefixWith != "" {
		o = append(o, "replace_key_prefix_with="+strconv.Quote(r.ReplaceKeyPrefixWith))
	}
	if r.ReplaceKeyWith != "" {
		o = append(o, "replace_key_with="+strconv.Quote(r.ReplaceKeyWith))
	}
	if r.PassQueryString {
		o = append(o, "pass_query_string")
	}
	if !r.FollowRedirects {
		o = append(o, "follow_redirects=false")
	}
	if !r.MirrorHead {
		o = append(o, "mirror_head=false")
	}
	h := r.Headers
	if h.PassAll {
		o = append(o, "headers.pass_all")
	}
	if len(h.Pass) > 0 {
		o = append(o, "headers.pass="+strings.Join(h.Pass, ","))
	}
	if len(h.Remove) > 0 {
		o = append(o, "headers.remove="+strings.Join(h.Remove, ","))
	}
	for _, hv := range h.Set {
		o = append(o, fmt.Sprintf("headers.set=%s:%q", hv.Name, hv.Value))
	}
	if len(o) == 0 {
		return "-"
	}
	return strings.Join(o, " ")
}

// Conditions says when r matches, for ferry rules test.
func (r *Rule) Conditions() string {
	var c []string
	if r.KeyPrefix != "" {
		c = append(c, fmt.Sprintf("key_prefix %q", r.KeyPrefix))
	}
	if r.KeySuffix != "" {
		c = append(c, fmt.Sprintf("key_suffix %q", r.KeySuffix))
	}
	if len(c) == 0 {
		return "no key_prefix or key_suffix: it matches every key"
	}
	return strings.Join(c, ", ")
}

// String writes an HTTP origin request as ferry rules test prints it: the
// GET line, the Host, then the headers sorted by name.
func (req *Request) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "origin request:\n  GET %s\n", req.URL)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	fmt.Fprintf(&b, "  Host: %s\n", host)
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return strings.ToLower(names[i]) < strings.ToLower(names[j]) })
	for _, k := range names {
		for _, v := range req.Header[k] {
			fmt.Fprintf(&b, "  %s: %s\n", k, v)
		}
	}
	return b.String()
}

package rules

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Explain writes what serve would do for a GET of key that the target does
// not have, for ferry rules test: the rules skipped because their
// when_headers do not hold, the rule that matches and why, the exact request
// a fill sends to each of its origins in failover order, and its fill
// settings. client and query stand for the client's request; redact removes
// credentials from the URLs it prints. It returns the matching rule (nil for
// none, said in w) and the request to its first origin; an origin request
// that cannot be built is an error naming the rule.
func (s *Set) Explain(w io.Writer, key string, client http.Header, query string, redact func(string) string) (*Rule, *Request, error) {
	i, r := s.MatchRequest(key, client)
	printSkipped(w, s, i, key, client)
	if r == nil {
		fmt.Fprintf(w, "no rule matches %q: serve answers a miss with 404 NoSuchKey\n", key)
		return nil, nil, nil
	}
	fmt.Fprintf(w, "%s matches %q (%s)\n", label(i, r), key, conditions(r))
	req, err := printOriginRequests(w, r, key, client, query, redact)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", label(i, r), err)
	}
	return r, req, nil
}

// OriginsText lists the rule's origins in order, with their Host when set,
// each URL passed through redact (which removes credentials).
func (r *Rule) OriginsText(redact func(string) string) string {
	var out []string
	for _, o := range r.Origins() {
		s := redact(o.URL)
		if o.Host != "" {
			s += " (Host " + o.Host + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// Options summarises everything but the conditions and the origins, as
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
	for _, c := range r.WhenHeaders {
		o = append(o, fmt.Sprintf("when_headers=%s:%q", c.Name, c.Value))
	}
	if len(r.FailoverOn) > 0 {
		o = append(o, "failover_on="+strings.Join(r.FailoverOn, ","))
	}
	if len(r.PassStatus) > 0 {
		o = append(o, "pass_status="+joinInts(r.PassStatus, ","))
	}
	if r.NoStore {
		o = append(o, "store=false")
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

// label names rule i (0-based) for people: "rule 2 (images)".
func label(i int, r *Rule) string {
	label := fmt.Sprintf("rule %d", i+1)
	if r.Name != "" {
		label += fmt.Sprintf(" (%s)", r.Name)
	}
	return label
}

// conditions says when r matches.
func conditions(r *Rule) string {
	var c []string
	if r.KeyPrefix != "" {
		c = append(c, fmt.Sprintf("key_prefix %q", r.KeyPrefix))
	}
	if r.KeySuffix != "" {
		c = append(c, fmt.Sprintf("key_suffix %q", r.KeySuffix))
	}
	for _, hv := range r.WhenHeaders {
		c = append(c, fmt.Sprintf("when_headers %s: %q", hv.Name, hv.Value))
	}
	if len(c) == 0 {
		return "no key_prefix or key_suffix: it matches every key"
	}
	return strings.Join(c, ", ")
}

// printSkipped explains each rule before the matching one (index i, or every
// rule when i is -1) whose key conditions hold but whose when_headers do not.
func printSkipped(w io.Writer, set *Set, i int, key string, client http.Header) {
	for j := range set.Rules {
		if i >= 0 && j >= i {
			return
		}
		r := &set.Rules[j]
		hv, unmet := r.UnmetHeader(client)
		if !r.MatchesKey(key) || !unmet {
			continue
		}
		has := "the request has no " + hv.Name + " header"
		if vs := HeaderValues(client, hv.Name); len(vs) > 0 {
			has = fmt.Sprintf("the request has %s: %q", hv.Name, strings.Join(vs, ", "))
		}
		fmt.Fprintf(w, "%s is skipped: when_headers %s: %q does not hold (%s)\n", label(j, r), hv.Name, hv.Value, has)
	}
}

// printOriginRequests prints the exact request a fill sends to each origin
// of r, in order, and the rule's fill settings; it returns the request for
// the first origin.
func printOriginRequests(w io.Writer, r *Rule, key string, client http.Header, query string, redact func(string) string) (*Request, error) {
	origins := r.Origins()
	var first *Request
	anyHTTP := false
	for j, o := range origins {
		req, err := OriginRequestAt(r, j, key, client, query)
		if err != nil {
			return nil, err
		}
		if j == 0 {
			first = req
		}
		anyHTTP = anyHTTP || !o.IsBucket()
		printOriginRequest(w, req, j, len(origins), redact)
	}
	if r.Stores() {
		fmt.Fprintf(w, "stored as:     %s\n", key)
	} else {
		fmt.Fprintln(w, "stored as:     nothing (store: false: the answer is streamed to the client only)")
	}
	fmt.Fprintf(w, "follow_redirects: %t, mirror_head: %t\n", r.FollowRedirects, r.MirrorHead)
	if len(origins) > 1 {
		policy, def := r.FailoverOn, ""
		if len(policy) == 0 {
			policy, def = DefaultFailoverOn(), " (the default)"
		}
		fmt.Fprintf(w, "failover_on: %s%s: the next origin is tried only before any byte reached the client\n", strings.Join(policy, ", "), def)
	}
	if len(r.PassStatus) > 0 {
		fmt.Fprintf(w, "pass_status: %s: these origin answers reach the client with their body and are never stored\n", joinInts(r.PassStatus, ", "))
	}
	if query != "" && !r.PassQueryString && anyHTTP {
		fmt.Fprintln(w, "the query string is not forwarded (pass_query_string: false)")
	}
	return first, nil
}

// printOriginRequest prints one origin request (origin j of n).
func printOriginRequest(w io.Writer, req *Request, j, n int, redact func(string) string) {
	if req.URL == nil {
		if n == 1 {
			fmt.Fprintf(w, "origin bucket: %s\norigin key:    %s\n", redact(req.BucketURL), req.Key)
		} else {
			fmt.Fprintf(w, "origin %d of %d:\n  bucket: %s\n  key:    %s\n", j+1, n, redact(req.BucketURL), req.Key)
		}
		return
	}
	if n == 1 {
		fmt.Fprintln(w, "origin request:")
	} else {
		fmt.Fprintf(w, "origin %d of %d:\n", j+1, n)
	}
	fmt.Fprintf(w, "  GET %s\n", req.URL)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	fmt.Fprintf(w, "  Host: %s\n", host)
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return strings.ToLower(names[i]) < strings.ToLower(names[j]) })
	for _, k := range names {
		for _, v := range req.Header[k] {
			fmt.Fprintf(w, "  %s: %s\n", k, v)
		}
	}
}

func joinInts(ns []int, sep string) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, sep)
}

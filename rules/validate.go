package rules

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// validate checks every rule and the list as a whole, and collects warnings.
// ls holds the YAML lines of each rule's fields when the rules came from a
// file (nil otherwise).
func (s *Set) validate(ls []lines) error {
	s.Warnings = nil
	if len(s.Rules) > MaxRules {
		return &Error{Rule: MaxRules + 1, Msg: fmt.Sprintf("too many rules: at most %d are allowed, got %d", MaxRules, len(s.Rules))}
	}
	names := map[string]int{}
	for i := range s.Rules {
		r := &s.Rules[i]
		lineOf := func(field string) int {
			if ls == nil {
				return 0
			}
			return ls[i].of(field)
		}
		if err := r.validate(); err != nil {
			err.Rule = i + 1
			if err.Line == 0 {
				err.Line = lineOf(err.Field)
			}
			return err
		}
		if r.Name != "" {
			if j, ok := names[r.Name]; ok {
				return &Error{Rule: i + 1, Field: "name", Line: lineOf("name"),
					Msg: fmt.Sprintf("%q is already the name of rule %d", r.Name, j)}
			}
			names[r.Name] = i + 1
		}
		for _, w := range r.warnings() {
			s.Warnings = append(s.Warnings, fmt.Sprintf("rule %d: %s", i+1, w))
		}
	}
	return nil
}

// Validate checks one rule on its own (the rule number in a returned *Error
// is 0).
func (r *Rule) Validate() error {
	if err := r.validate(); err != nil {
		return err
	}
	return nil
}

func (r *Rule) validate() *Error {
	fail := func(field, format string, args ...any) *Error {
		return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	for _, f := range []struct{ name, v string }{
		{"name", r.Name}, {"key_prefix", r.KeyPrefix}, {"key_suffix", r.KeySuffix},
		{"replace_key_prefix_with", r.ReplaceKeyPrefixWith}, {"replace_key_with", r.ReplaceKeyWith},
	} {
		if msg := badText(f.v); msg != "" {
			return fail(f.name, "%s", msg)
		}
	}
	if err := validateWhenHeaders(r.WhenHeaders); err != nil {
		return err
	}
	if err := r.validateOrigins(); err != nil {
		return err
	}
	if r.ReplaceKeyPrefixWith != "" && r.ReplaceKeyWith != "" {
		return fail("replace_key_with", "cannot be combined with replace_key_prefix_with: use one of them")
	}
	if t := strings.ReplaceAll(r.ReplaceKeyWith, "${key}", ""); strings.Contains(t, "${") {
		return fail("replace_key_with", "%q: only ${key} can be used in the template", r.ReplaceKeyWith)
	}
	if err := validateFailover(r.FailoverOn); err != nil {
		return err
	}
	allBucket := r.allBucket()
	if err := validatePassStatus(r.PassStatus, allBucket); err != nil {
		return err
	}
	if allBucket && (len(r.Headers.Pass)+len(r.Headers.Remove)+len(r.Headers.Set) > 0 || r.Headers.PassAll) {
		return fail("headers", "a bucket origin is read through its API: headers cannot be configured")
	}
	return r.Headers.validate()
}

// everyHTTPOriginHasHost reports whether every HTTP origin of the rule has
// its own host (so the header policy's Host reaches none of them).
func (r *Rule) everyHTTPOriginHasHost() bool {
	for _, o := range r.Origins() {
		if !o.IsBucket() && o.Host == "" {
			return false
		}
	}
	return true
}

// allBucket reports whether every origin of the rule is a bucket URL.
func (r *Rule) allBucket() bool {
	for _, o := range r.Origins() {
		if !o.IsBucket() {
			return false
		}
	}
	return true
}

// validateOrigins checks origin or origins: one of them, at most MaxOrigins,
// each a valid origin with a valid Host, none twice.
func (r *Rule) validateOrigins() *Error {
	fail := func(field, format string, args ...any) *Error {
		return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.Origin != "" && len(r.OriginList) > 0:
		return fail("origins", "cannot be combined with origin: give one origin as origin: URL, or every origin in order under origins:")
	case len(r.OriginList) == 0:
		if r.Origin == "" {
			return fail("origin", "missing: every rule needs an origin (http://host/ or a bucket URL), or origins: [...] to fail over")
		}
		if _, err := parseOrigin(r.Origin); err != nil {
			return fail("origin", "%v", err)
		}
		return nil
	case len(r.OriginList) > MaxOrigins:
		return fail("origins", "at most %d origins are allowed in a rule, got %d", MaxOrigins, len(r.OriginList))
	}
	for i, o := range r.OriginList {
		f := fmt.Sprintf("origins[%d]", i+1)
		if o.URL == "" {
			return fail(f+".url", "missing: each origin needs a url (http://host/ or a bucket URL)")
		}
		if _, err := parseOrigin(o.URL); err != nil {
			return fail(f+".url", "%v", err)
		}
		if o.Host != "" && o.IsBucket() {
			return fail(f+".host", "a bucket origin is read through its API: it has no Host")
		}
		if o.Host != "" {
			if err := checkHostValue(o.Host); err != nil {
				return fail(f+".host", "Host %q: %v", o.Host, err)
			}
		}
		for j := range i {
			if r.OriginList[j] == o {
				return fail(f, "%q is already origin %d", o.URL, j+1)
			}
		}
	}
	return nil
}

// validateWhenHeaders checks the header conditions: at most MaxWhenHeaders,
// valid names given once, non-empty values without control characters or
// surrounding spaces (a server trims those from every request header).
func validateWhenHeaders(hs []HeaderValue) *Error {
	fail := func(field, format string, args ...any) *Error {
		return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(hs) > MaxWhenHeaders {
		return fail("when_headers", "at most %d header conditions are allowed, got %d", MaxWhenHeaders, len(hs))
	}
	for i, hv := range hs {
		f := fmt.Sprintf("when_headers[%d]", i+1)
		switch {
		case hv.Name == "":
			return fail(f+".name", "header name is empty")
		case !validToken(hv.Name):
			return fail(f+".name", "%q is not a valid header name", hv.Name)
		case hv.Value == "":
			return fail(f+".value", "is empty: a condition compares the header's value with a non-empty value")
		case !validHeaderValue(hv.Value):
			return fail(f+".value", "%q contains a control character", hv.Value)
		case strings.TrimSpace(hv.Value) != hv.Value:
			return fail(f+".value", "%q has leading or trailing spaces, which no request header value has", hv.Value)
		}
		for j := range i {
			if strings.EqualFold(hs[j].Name, hv.Name) {
				return fail(f+".name", "%q is already condition %d: a header can be required once", hv.Name, j+1)
			}
		}
	}
	return nil
}

// Failover classes of failover_on, besides single status codes 400-599.
const (
	FailoverNetwork = "network" // no answer: refused, reset, DNS or TLS failure
	FailoverTimeout = "timeout" // no answer in time: the connect or header timeout
	Failover4xx     = "4xx"     // every 4xx status except 404, which is named on its own
	Failover5xx     = "5xx"     // every 5xx status
)

// DefaultFailoverOn returns the failover policy of a rule without
// failover_on: network errors, timeouts and 5xx answers.
func DefaultFailoverOn() []string {
	return []string{FailoverNetwork, FailoverTimeout, Failover5xx}
}

// failoverStatus parses a status code of failover_on written in decimal.
func failoverStatus(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// validateFailover checks the failover_on vocabulary: each class or status
// once, and no status that a class already covers.
func validateFailover(list []string) *Error {
	fail := func(field, format string, args ...any) *Error {
		return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	seen := map[string]int{}
	for i, v := range list {
		f := fmt.Sprintf("failover_on[%d]", i+1)
		if j, dup := seen[v]; dup {
			return fail(f, "%q is already item %d", v, j)
		}
		seen[v] = i + 1
		switch v {
		case FailoverNetwork, FailoverTimeout, Failover4xx, Failover5xx:
			continue
		}
		n, ok := failoverStatus(v)
		if !ok {
			return fail(f, "%q: expected network, timeout, 4xx (every 4xx but 404), 5xx or a status code from 400 to 599", v)
		}
		if n < 400 || n > 599 {
			return fail(f, "%d: only statuses from 400 to 599 can move a fill to the next origin", n)
		}
	}
	for i, v := range list {
		n, ok := failoverStatus(v)
		if !ok {
			continue
		}
		if class := statusClass(n); class != "" && seen[class] > 0 {
			return fail(fmt.Sprintf("failover_on[%d]", i+1), "%d is already covered by %s", n, class)
		}
	}
	return nil
}

// statusClass is the failover class that covers status n ("" for 404).
func statusClass(n int) string {
	switch {
	case n >= 500 && n <= 599:
		return Failover5xx
	case n >= 400 && n <= 499 && n != 404:
		return Failover4xx
	}
	return ""
}

// validatePassStatus checks pass_status: error statuses 400-599 but 404,
// each once, and an HTTP origin to answer them.
func validatePassStatus(codes []int, allBucket bool) *Error {
	fail := func(field, format string, args ...any) *Error {
		return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(codes) > 0 && allBucket {
		return fail("pass_status", "a bucket origin is read through its API: it has no HTTP answer to pass on")
	}
	for i, c := range codes {
		f := fmt.Sprintf("pass_status[%d]", i+1)
		switch {
		case c == 404:
			return fail(f, "404 is already answered 404 NoSuchKey (and never stored)")
		case c < 400 || c > 599:
			return fail(f, "%d: only error statuses from 400 to 599 can be passed on (200 is stored, 3xx follow follow_redirects)", c)
		}
		if j := slices.Index(codes[:i], c); j >= 0 {
			return fail(f, "%d is already item %d", c, j+1)
		}
	}
	return nil
}

// badText refuses control characters and invalid UTF-8 in rule strings.
func badText(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return fmt.Sprintf("%q contains a control character", s)
		}
	}
	return ""
}

// origin is a parsed rule origin.
type origin struct {
	bucket    bool
	u         *url.URL
	scheme    string
	host      string // as in the URL, e.g. "[::1]:8080"
	prefix    string // decoded path prefix, always ending in "/"
	rawPrefix string // the same, escaped
}

func parseOrigin(s string) (*origin, error) {
	if msg := badText(s); msg != "" {
		return nil, fmt.Errorf("%s", msg)
	}
	if strings.TrimSpace(s) != s {
		return nil, fmt.Errorf("%q has leading or trailing spaces", s)
	}
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return nil, fmt.Errorf("%q has no scheme: write http://%s/, https://... or a bucket URL (s3://, gs://, azblob://, file://)",
			s, strings.TrimSuffix(s, "/"))
	}
	scheme = strings.ToLower(scheme)
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid URL: %v", s, unwrapURLError(err))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q: user name or password in the origin URL is not supported", s)
	}
	if bucketSchemes[scheme] {
		switch scheme {
		case "s3", "gs", "azblob":
			if u.Host == "" {
				return nil, fmt.Errorf("%q names no bucket", s)
			}
			if ep := u.Query().Get("endpoint"); scheme == "s3" && !httpEndpoint(ep) {
				return nil, fmt.Errorf("%q: endpoint=%s is not an http(s) address such as https://s3.example.com or s3.example.com", s, ep)
			}
		case "file":
			if u.Host+u.Path == "" {
				return nil, fmt.Errorf("%q names no directory", s)
			}
		}
		return &origin{bucket: true, u: u, scheme: scheme}, nil
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("unsupported scheme %q: use http://, https:// or a bucket URL (s3://, gs://, azblob://, file://, mem://)", scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", s)
	}
	if err := checkHost(u); err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, fmt.Errorf("%q: the origin URL cannot have a query string (see pass_query_string)", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return nil, fmt.Errorf("%q: the origin URL cannot have a fragment", s)
	}
	o := &origin{u: u, scheme: u.Scheme, host: u.Host, prefix: u.Path, rawPrefix: u.EscapedPath()}
	if o.prefix == "" {
		o.prefix, o.rawPrefix = "/", "/"
	}
	if !strings.HasSuffix(o.prefix, "/") {
		return nil, fmt.Errorf("%q: the path prefix must end with \"/\" (did you mean %q?)", s, s+"/")
	}
	if o.prefix != "/" {
		for _, seg := range strings.Split(strings.Trim(o.prefix, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." {
				return nil, fmt.Errorf("%q: the path prefix cannot contain empty, \".\" or \"..\" segments", s)
			}
		}
	}
	return o, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// checkHost accepts a DNS name, an IPv4 address or a bracketed IPv6
// address, with an optional port 1-65535.
func checkHost(u *url.URL) error {
	host := u.Hostname()
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("empty port")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
	}
	if strings.HasPrefix(u.Host, "[") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q is not an IPv6 address", host)
		}
		return nil
	}
	if len(host) > 253 {
		return fmt.Errorf("host name is too long")
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q has an empty or too long label", host)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("host %q contains %q (write international names in their xn-- form)", host, c)
			}
		}
	}
	return nil
}

func (h *Headers) validate() *Error {
	fail := func(field, format string, args ...any) *Error {
		return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	for i, name := range h.Pass {
		if msg := checkHeaderName(name); msg != "" {
			return fail(fmt.Sprintf("headers.pass[%d]", i+1), "%s", msg)
		}
	}
	for i, name := range h.Remove {
		if msg := checkHeaderName(name); msg != "" {
			return fail(fmt.Sprintf("headers.remove[%d]", i+1), "%s", msg)
		}
	}
	seen := map[string]bool{}
	for i, hv := range h.Set {
		field := fmt.Sprintf("headers.set[%d]", i+1)
		if msg := checkHeaderName(hv.Name); msg != "" {
			return fail(field+".name", "%s", msg)
		}
		lower := strings.ToLower(hv.Name)
		if seen[lower] {
			return fail(field+".name", "%q is set twice", hv.Name)
		}
		seen[lower] = true
		if !validHeaderValue(hv.Value) {
			return fail(field+".value", "%q contains a control character", hv.Value)
		}
		if lower == "host" {
			if err := checkHostValue(hv.Value); err != nil {
				return fail(field+".value", "Host %q: %v", hv.Value, err)
			}
		}
	}
	return nil
}

// checkHostValue accepts host[:port] for a configured Host header.
func checkHostValue(v string) error {
	if v == "" {
		return fmt.Errorf("must not be empty (use headers.remove to send the origin's own host)")
	}
	u, err := url.Parse("http://" + v)
	if err != nil || u.Host != v || u.Path != "" || u.User != nil {
		return fmt.Errorf("must be host or host:port")
	}
	return checkHost(u)
}

// checkHeaderName returns why name cannot be configured, or "".
func checkHeaderName(name string) string {
	if name == "" {
		return "header name is empty"
	}
	if !validToken(name) {
		return fmt.Sprintf("%q is not a valid header name", name)
	}
	if why := forbidden(strings.ToLower(name)); why != "" {
		return fmt.Sprintf("%q cannot be configured: %s", name, why)
	}
	return ""
}

// forbidden returns why a lower-case header name can never be configured or
// forwarded to the origin, or "" when it can.
func forbidden(lower string) string {
	switch lower {
	case "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
		"te", "trailer", "trailers", "transfer-encoding", "upgrade":
		return "it is a hop-by-hop header"
	case "content-length":
		return "origin requests have no body; the length of the object is the origin's"
	case "range":
		return "fills always fetch the whole object; ferry answers ranges itself"
	case "authorization":
		return "client credentials never reach the origin (use a bucket origin for private data)"
	case "date":
		return "the HTTP client sets it"
	}
	if strings.HasPrefix(lower, "if-") {
		return "conditional requests are evaluated by ferry, not the origin"
	}
	if strings.HasPrefix(lower, "x-amz-") {
		return "x-amz-* are the target's signing headers"
	}
	return ""
}

// validToken reports whether s is an RFC 9110 token (a header field name).
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return s != ""
}

// validHeaderValue refuses control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (r *Rule) warnings() []string {
	var w []string
	h := &r.Headers
	hostHandled := containsFold(h.Remove, "Host") || r.everyHTTPOriginHasHost()
	for _, hv := range h.Set {
		if strings.EqualFold(hv.Name, "Host") {
			hostHandled = true
		}
	}
	if h.PassAll && !hostHandled {
		w = append(w, "headers.pass_all passes the client's Host header to the origin; add Host to headers.remove (or headers.set) unless the origin serves that host name")
	} else if containsFold(h.Pass, "Host") && !hostHandled {
		w = append(w, "headers.pass passes the client's Host header to the origin")
	}
	if h.PassAll && len(h.Pass) > 0 {
		w = append(w, "headers.pass has no effect with headers.pass_all")
	}
	if len(r.FailoverOn) > 0 && len(r.Origins()) < 2 {
		w = append(w, "failover_on has no effect with one origin (list several under origins:)")
	}
	if r.NoStore && r.KeyPrefix == "" && r.KeySuffix == "" && len(r.WhenHeaders) == 0 {
		w = append(w, "store: false on a rule that matches every key: no missing key is ever stored, so the target never becomes complete")
	}
	return w
}

// httpEndpoint reports whether ep is an endpoint= that store opens: none
// (AWS), an http(s) URL with a host, or a host (https:// is meant).
func httpEndpoint(ep string) bool {
	if ep == "" {
		return true
	}
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https")
}

package rules

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OriginRequest builds the request for key to the rule's first origin
// (OriginRequestAt with i = 0). A key can never change the scheme, host or
// port, nor escape the origin's path prefix; such keys are refused with an
// error wrapping ErrKeyRefused.
//
// client holds the client's request headers; serve puts the client's Host
// under "Host" so that pass_all or pass: [Host] can forward it. rawQuery is
// forwarded only when the rule has pass_query_string.
func OriginRequest(r *Rule, key string, client http.Header, rawQuery string) (*Request, error) {
	return OriginRequestAt(r, 0, key, client, rawQuery)
}

// OriginRequestAt builds the request for key to origin i (0-based, in the
// order of r.Origins()), with the same guarantees as OriginRequest for every
// origin: the URL is assembled from that origin's parsed URL, each segment of
// the (rewritten) key is checked and escaped on its own, and the result is
// parsed back and compared with the origin before it is returned. The Host
// is the origin's host: when set, else the header policy's. An i out of
// range is an error that does not wrap ErrKeyRefused.
func OriginRequestAt(r *Rule, i int, key string, client http.Header, rawQuery string) (*Request, error) {
	origins := r.Origins()
	if i < 0 || i >= len(origins) {
		return nil, fmt.Errorf("the rule has %d origins: there is no origin %d", len(origins), i+1)
	}
	org := origins[i]
	o, err := parseOrigin(org.URL)
	if err != nil {
		return nil, fmt.Errorf("rule origin: %w", err)
	}
	if why := checkKeyText(key); why != "" {
		return nil, refused(key, why)
	}
	k := RewriteKey(r, key)
	if why := checkKey(k); why != "" {
		if k != key {
			why = fmt.Sprintf("rewritten key %q: %s", k, why)
		}
		return nil, refused(key, why)
	}
	if o.bucket {
		return &Request{BucketURL: org.URL, Key: k, Header: http.Header{}, OriginIndex: i}, nil
	}
	u, err := buildURL(o, k, r.PassQueryString, rawQuery)
	if err != nil {
		return nil, err
	}
	if why := verify(u, o); why != "" {
		return nil, refused(key, "the built URL "+why)
	}
	h, host := applyHeaders(&r.Headers, client)
	if org.Host != "" && checkHostValue(org.Host) == nil {
		host = org.Host
	}
	return &Request{URL: u, Header: h, Host: host, OriginIndex: i}, nil
}

// buildURL puts the checked key k (and the query, when passed) under the
// origin's prefix, escaping each segment of k on its own.
func buildURL(o *origin, k string, passQuery bool, rawQuery string) (*url.URL, error) {
	segs := strings.Split(k, "/")
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = escapeSegment(s)
	}
	u := &url.URL{
		Scheme:  o.scheme,
		Host:    o.host,
		Path:    o.prefix + k,
		RawPath: o.rawPrefix + strings.Join(esc, "/"),
	}
	if passQuery && rawQuery != "" {
		if why := checkQuery(rawQuery); why != "" {
			return nil, fmt.Errorf("query string %q: %s: %w", rawQuery, why, ErrKeyRefused)
		}
		u.RawQuery = rawQuery
	}
	return u, nil
}

// FailoverOnStatus reports whether an origin answer with this HTTP status
// moves the fill on to the next origin under the rule's failover_on (by
// default network, timeout, 5xx). It only applies the policy: the caller
// also checks that there is a next origin and that no byte of the body has
// reached a client yet.
func (r *Rule) FailoverOnStatus(status int) bool {
	policy := r.FailoverOn
	if len(policy) == 0 {
		policy = DefaultFailoverOn()
	}
	for _, v := range policy {
		if n, ok := failoverStatus(v); ok && n == status {
			return true
		}
		if c := statusClass(status); c != "" && v == c {
			return true
		}
	}
	return false
}

// FailoverOnError reports whether an origin attempt that got no answer moves
// the fill on to the next origin: timeout is true for a connect, header or
// idle timeout (policy "timeout"), false for any other failure to get an
// answer, such as a refused or reset connection, DNS or TLS (policy
// "network"). The same caller checks apply as for FailoverOnStatus.
func (r *Rule) FailoverOnError(timeout bool) bool {
	want := FailoverNetwork
	if timeout {
		want = FailoverTimeout
	}
	policy := r.FailoverOn
	if len(policy) == 0 {
		policy = DefaultFailoverOn()
	}
	return slices.Contains(policy, want)
}

// PassesStatus reports whether an origin answer with this status reaches the
// client with its status and body (pass_status) instead of 424 MirrorFailed.
// Such answers are never stored.
func (r *Rule) PassesStatus(status int) bool {
	return slices.Contains(r.PassStatus, status)
}

func refused(key, why string) error {
	return fmt.Errorf("key %q: %s: %w", key, why, ErrKeyRefused)
}

// RewriteKey returns the key to fetch from the origin for key under r:
// replace_key_with (with ${key} replaced by the key) or
// replace_key_prefix_with (replacing the matched key_prefix); else key.
func RewriteKey(r *Rule, key string) string {
	switch {
	case r.ReplaceKeyWith != "":
		return strings.ReplaceAll(r.ReplaceKeyWith, "${key}", key)
	case r.ReplaceKeyPrefixWith != "":
		return r.ReplaceKeyPrefixWith + strings.TrimPrefix(key, r.KeyPrefix)
	}
	return key
}

// checkKeyText refuses invalid UTF-8 and control characters.
func checkKeyText(key string) string {
	if key == "" {
		return "empty key"
	}
	if !utf8.ValidString(key) {
		return "not valid UTF-8"
	}
	for _, c := range key {
		if unicode.IsControl(c) {
			return fmt.Sprintf("contains the control character %U", c)
		}
	}
	return ""
}

// checkKey returns why key cannot be fetched safely, or "".
func checkKey(key string) string {
	if why := checkKeyText(key); why != "" {
		return why
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" {
			return "empty path segment (leading, trailing or double \"/\")"
		}
		// Also refuse dot segments hidden behind percent-encoding or
		// backslashes, for origins that decode twice or treat "\" as "/".
		for _, part := range strings.Split(seg, `\`) {
			switch strings.ToLower(part) {
			case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
				return fmt.Sprintf("dot segment %q", seg)
			}
		}
	}
	return ""
}

func checkQuery(q string) string {
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c == 0x7f || c == '#' {
			return fmt.Sprintf("contains %q", c)
		}
	}
	if !utf8.ValidString(q) {
		return "not valid UTF-8"
	}
	return ""
}

// escapeSegment percent-encodes one path segment. Unreserved characters and
// the sub-delimiters that no server reads specially stay as they are; "/",
// "?", "#", "%", "+", ";" and every non-ASCII byte are encoded.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~!$&'()*,=:@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// verify re-parses the built URL and checks that it still has the rule's
// scheme, host (and port) and path prefix, no user info or fragment, and no
// dot segments. It returns what is wrong, or "".
func verify(u *url.URL, o *origin) string {
	if u.EscapedPath() != u.RawPath {
		return "has an inconsistent path encoding"
	}
	p, err := url.Parse(u.String())
	switch {
	case err != nil:
		return "does not parse: " + err.Error()
	case p.Scheme != o.scheme:
		return "changes the scheme"
	case p.Host != o.host || p.Hostname() != o.u.Hostname() || p.Port() != o.u.Port():
		return "changes the host"
	case p.User != nil || p.Opaque != "" || p.Fragment != "":
		return "is malformed"
	case !strings.HasPrefix(p.EscapedPath(), o.rawPrefix) || !strings.HasPrefix(p.Path, o.prefix):
		return "escapes the origin's path prefix"
	case p.Path != u.Path:
		return "does not round-trip"
	case path.Clean(p.Path) != strings.TrimSuffix(p.Path, "/"):
		return "contains dot or empty segments"
	}
	return ""
}

// applyHeaders runs the header policy on the client's headers and returns
// the origin request headers and the Host to send ("" for the URL's host).
func applyHeaders(h *Headers, client http.Header) (http.Header, string) {
	out := http.Header{}
	hop := map[string]bool{}
	for _, v := range HeaderValues(client, "Connection") {
		for _, tok := range strings.Split(v, ",") {
			hop[strings.ToLower(strings.TrimSpace(tok))] = true
		}
	}
	allowed := func(name string) bool {
		lower := strings.ToLower(name)
		return forbidden(lower) == "" && !hop[lower] && validToken(name)
	}
	if h.PassAll {
		for k, vs := range client {
			if allowed(k) {
				out[k] = append(out[k], vs...)
			}
		}
	}
	for _, name := range h.Pass {
		if !allowed(name) {
			continue
		}
		if vs := HeaderValues(client, name); len(vs) > 0 {
			deleteFold(out, name)
			out[name] = vs
		}
	}
	for _, name := range h.Remove {
		deleteFold(out, name)
	}
	for _, hv := range h.Set {
		if !allowed(hv.Name) || !validHeaderValue(hv.Value) {
			continue // Parse refuses these; rules built in code get no say either
		}
		deleteFold(out, hv.Name)
		out[hv.Name] = []string{hv.Value}
	}
	var host string
	for k, vs := range out {
		if strings.EqualFold(k, "Host") {
			if len(vs) > 0 && checkHostValue(vs[0]) == nil {
				host = vs[0]
			}
			delete(out, k)
		}
	}
	for k, vs := range out {
		for _, v := range vs {
			if !validHeaderValue(v) {
				delete(out, k) // a client value with CR/LF never reaches the origin
				break
			}
		}
	}
	return out, host
}

func deleteFold(h http.Header, name string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
}

package rules

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OriginRequest builds the origin request for key under rule r. A key can
// never change the scheme, host or port, nor escape the origin's path prefix;
// such keys are refused with an error wrapping ErrKeyRefused.
//
// The URL is assembled from the rule's parsed origin: each segment of the
// (rewritten) key is checked and escaped on its own, and the result is
// parsed back and compared with the rule before it is returned. client holds
// the client's request headers; serve puts the client's Host under "Host" so
// that pass_all or pass: [Host] can forward it. rawQuery is forwarded only
// when the rule has pass_query_string.
func OriginRequest(r *Rule, key string, client http.Header, rawQuery string) (*Request, error) {
	o, err := parseOrigin(r.Origin)
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
		return &Request{BucketURL: r.Origin, Key: k, Header: http.Header{}}, nil
	}
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
	if r.PassQueryString && rawQuery != "" {
		if why := checkQuery(rawQuery); why != "" {
			return nil, fmt.Errorf("query string %q: %s: %w", rawQuery, why, ErrKeyRefused)
		}
		u.RawQuery = rawQuery
	}
	if why := verify(u, o); why != "" {
		return nil, refused(key, "the built URL "+why)
	}
	h, host := applyHeaders(&r.Headers, client)
	return &Request{URL: u, Header: h, Host: host}, nil
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

package rules

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// CheckLoop refuses rules whose origin points back at ferry itself, which
// would make every miss fetch from the mirror (a mirror loop), as the clouds
// refuse an origin that is the bucket itself. Each entry of self is one of:
//
//   - the target bucket URL (s3://bucket?endpoint=http://host:9000, file:///data, ...):
//     an HTTP origin on the target's endpoint host:port (unless its path names
//     another bucket) or the bucket's virtual host, and a bucket origin that is
//     the same bucket and overlapping prefix, are refused;
//   - serve's listen address (":8080", "0.0.0.0:8080", "10.0.0.5:8080"): an
//     origin on that port at that address, or at a loopback, unspecified or
//     this machine's host name when the address has no host;
//   - an http(s):// URL at which ferry answers.
//
// Every origin of a rule is checked (origins: for failover too). The error
// is an *Error naming the rule and the origin's field.
func CheckLoop(s *Set, self []string) error {
	if s == nil {
		return nil
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		for j, org := range r.Origins() {
			field := "origin"
			if len(r.OriginList) > 0 {
				field = fmt.Sprintf("origins[%d].url", j+1)
			}
			o, err := parseOrigin(org.URL)
			if err != nil {
				return &Error{Rule: i + 1, Field: field, Msg: err.Error()}
			}
			for _, sf := range self {
				if sf == "" {
					continue
				}
				if what := loops(o, sf); what != "" {
					return &Error{Rule: i + 1, Field: field,
						Msg: fmt.Sprintf("%q points back at %s: every miss would fetch from ferry itself (a mirror loop)", org.URL, what)}
				}
			}
		}
	}
	return nil
}

// loops returns what o points back at in self, or "".
func loops(o *origin, self string) string {
	scheme, _, hasScheme := strings.Cut(self, "://")
	scheme = strings.ToLower(scheme)
	switch {
	case hasScheme && bucketSchemes[scheme]:
		t, err := url.Parse(self)
		if err != nil {
			return ""
		}
		if o.bucket {
			if sameBucket(o.u, t) {
				return "the target bucket " + redact(t)
			}
			return ""
		}
		return httpOnBucket(o, t)
	case hasScheme:
		if o.bucket {
			return ""
		}
		u, err := url.Parse(self)
		if err != nil {
			return ""
		}
		if sameHostPort(o.u, u) {
			return "ferry's own address " + u.Host
		}
	default:
		host, port, err := net.SplitHostPort(self)
		if err != nil {
			// A plain directory path, as a target may be given.
			if o.bucket && sameBucket(o.u, &url.URL{Scheme: "file", Path: filepath.ToSlash(self)}) {
				return "the target directory " + self
			}
			return ""
		}
		if o.bucket || port != EffectivePort(o.u) {
			return ""
		}
		oh := normHost(o.u.Hostname())
		if host == "" || isUnspecified(host) {
			if isLocal(oh) {
				return "serve's listen address " + self
			}
			return ""
		}
		if oh == normHost(host) {
			return "serve's listen address " + self
		}
	}
	return ""
}

// httpOnBucket reports an HTTP origin that reaches the target bucket t.
func httpOnBucket(o *origin, t *url.URL) string {
	if strings.ToLower(t.Scheme) != "s3" {
		return ""
	}
	bucket := strings.ToLower(t.Host)
	first, _, _ := strings.Cut(strings.TrimPrefix(o.prefix, "/"), "/")
	oh := normHost(o.u.Hostname())
	if ep := t.Query().Get("endpoint"); ep != "" {
		e, err := url.Parse(ep)
		if err != nil || e.Host == "" {
			return ""
		}
		eh := normHost(e.Hostname())
		if EffectivePort(o.u) != EffectivePort(e) {
			return ""
		}
		if oh == eh && (first == "" || first == bucket) {
			return "the target's endpoint " + e.Host
		}
		if oh == bucket+"."+eh {
			return "the target bucket's virtual host " + o.u.Host
		}
		return ""
	}
	if !strings.HasSuffix(oh, ".amazonaws.com") {
		return ""
	}
	if strings.HasPrefix(oh, bucket+".s3.") || strings.HasPrefix(oh, bucket+".s3-") {
		return "the target bucket " + bucket
	}
	if (oh == "s3.amazonaws.com" || strings.HasPrefix(oh, "s3.") || strings.HasPrefix(oh, "s3-")) && first == bucket {
		return "the target bucket " + bucket
	}
	return ""
}

// sameBucket reports two bucket URLs that name the same bucket with
// overlapping prefixes (or the same or nested directories).
func sameBucket(a, b *url.URL) bool {
	sa, sb := strings.ToLower(a.Scheme), strings.ToLower(b.Scheme)
	if sa != sb {
		return false
	}
	switch sa {
	case "mem":
		return false // every mem:// URL opens a new, empty bucket
	case "file":
		pa, pb := fileDir(a), fileDir(b)
		return nested(pa, pb) || nested(pb, pa)
	}
	if !strings.EqualFold(a.Host, b.Host) {
		return false
	}
	if endpointOf(a) != endpointOf(b) {
		return false
	}
	pa, pb := bucketPrefix(a), bucketPrefix(b)
	return strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa)
}

func fileDir(u *url.URL) string {
	p := filepath.FromSlash(u.Host + u.Path)
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	return filepath.Clean(p)
}

func nested(dir, in string) bool {
	rel, err := filepath.Rel(in, dir)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func endpointOf(u *url.URL) string {
	ep := u.Query().Get("endpoint")
	if ep == "" {
		return ""
	}
	e, err := url.Parse(ep)
	if err != nil {
		return ep
	}
	return normHost(e.Hostname()) + ":" + EffectivePort(e)
}

func bucketPrefix(u *url.URL) string {
	p := strings.TrimPrefix(u.Path, "/") + u.Query().Get("prefix")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

func sameHostPort(a, b *url.URL) bool {
	return normHost(a.Hostname()) == normHost(b.Hostname()) && EffectivePort(a) == EffectivePort(b)
}

// EffectivePort is the port of u, or its scheme's default (443 for https, else 80).
func EffectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

func normHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return h
}

func isUnspecified(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsUnspecified()
}

// isLocal reports a host that reaches this machine: loopback, unspecified,
// localhost or this machine's host name.
func isLocal(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.IsLoopback() || a.IsUnspecified()
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if name, err := os.Hostname(); err == nil && h == normHost(name) {
		return true
	}
	return false
}

func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.User = nil
	return c.String()
}

package rules

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; what it accepts validates, round-trips
// through MarshalConfig, and holds at most MaxRules rules.
func FuzzParse(f *testing.F) {
	f.Add("- origin: http://h/\n")
	f.Add("- name: a\n  key_prefix: img/\n  origin: http://www.example-domain.com/dir1/\n  headers:\n    pass: [a-header]\n    remove: [b-header]\n    set: [{name: c-header, value: '000'}]\n")
	f.Add("- origin: s3://b/p/?endpoint=http://m:9000\n  replace_key_with: x/${key}\n")
	f.Add("- &a {origin: 'http://h/'}\n- *a\n")
	f.Add("- origin: http://[::1]:8080/\n  follow_redirects: false\n  mirror_head: false\n  pass_query_string: true\n")
	f.Add("- origins: [http://a/, {url: 'http://10.0.0.1/p/', host: www.example.com}, s3://b]\n  failover_on: [network, 5xx, 404]\n")
	f.Add("- key_prefix: v/\n  when_headers: [{name: X-Client, value: a}]\n  origin: http://h/\n  pass_status: [403, 410]\n  store: false\n")
	f.Fuzz(func(t *testing.T, y string) {
		s, err := Parse(strings.NewReader(y))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not *Error: %T %v", err, err)
			}
			return
		}
		if len(s.Rules) > MaxRules {
			t.Fatalf("%d rules accepted", len(s.Rules))
		}
		if _, err := NewSet(s.Rules); err != nil {
			t.Fatalf("parsed rules do not validate: %v", err)
		}
		data, err := MarshalConfig(s.Rules)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("marshalled rules do not parse: %v\n%s", err, data)
		}
		if !reflect.DeepEqual(back.Rules, s.Rules) {
			t.Fatalf("round trip changed the rules:\n%s\n got %+v\nwant %+v", data, back.Rules, s.Rules)
		}
	})
}

// FuzzOriginRequest: for any key, the built URL has the rule's scheme, host,
// port and path prefix, or the key is refused.
func FuzzOriginRequest(f *testing.F) {
	for _, k := range []string{"image/example_object.jpg", "a b+c%d#e?f", "@evil/x", "//evil/x", "../x", "%2e%2e/x",
		"a/../../x", "http://evil/x", "\\..\\x", "a\x00b", "ü/é", "x?y#z", ":8080/x", "[::1]/x", ".../x", "a/%2F/b"} {
		f.Add("http://www.example-domain.com/dir1/", k, "", false)
		f.Add("https://10.0.0.1:8443/", k, "v=1", true)
	}
	f.Add("http://[2001:db8::1]:81/p%20q/", "x", "a=b&c", true)
	f.Add("http://h/", "k", "a#b", true)
	f.Fuzz(func(t *testing.T, origin, key, query string, passQuery bool) {
		r := &Rule{Origin: origin, PassQueryString: passQuery}
		o, err := parseOrigin(origin)
		if err != nil || o.bucket {
			return
		}
		req, err := OriginRequest(r, key, http.Header{"Host": {"x"}}, query)
		if err != nil {
			if !errors.Is(err, ErrKeyRefused) {
				t.Fatalf("error does not wrap ErrKeyRefused: %v", err)
			}
			return
		}
		p, err := url.Parse(req.URL.String())
		if err != nil {
			t.Fatalf("built URL %q does not parse: %v", req.URL, err)
		}
		want, _ := url.Parse(origin)
		if p.Scheme != want.Scheme || p.Hostname() != want.Hostname() || p.Port() != want.Port() || p.User != nil {
			t.Fatalf("origin %q key %q: URL %q changed scheme/host/port", origin, key, p)
		}
		if !strings.HasPrefix(p.Path, o.prefix) || !strings.HasPrefix(path.Clean(p.Path), path.Clean(o.prefix)) {
			t.Fatalf("origin %q key %q: URL %q escapes the prefix %q", origin, key, p, o.prefix)
		}
		if p.Path != o.prefix+key {
			t.Fatalf("origin %q key %q: URL path %q does not carry the key", origin, key, p.Path)
		}
		if p.Fragment != "" || (!passQuery && p.RawQuery != "") {
			t.Fatalf("URL %q has a fragment or an unwanted query", p)
		}
		// The same holds after key rewriting.
		for _, rw := range []Rule{
			{Origin: origin, ReplaceKeyWith: "v/${key}/x"},
			{Origin: origin, KeyPrefix: key[:len(key)/2], ReplaceKeyPrefixWith: "p/"},
		} {
			req, err := OriginRequest(&rw, key, nil, "")
			if err != nil {
				if !errors.Is(err, ErrKeyRefused) {
					t.Fatalf("rewrite: error does not wrap ErrKeyRefused: %v", err)
				}
				continue
			}
			p, err := url.Parse(req.URL.String())
			if err != nil || p.Scheme != want.Scheme || p.Host != want.Host || p.User != nil ||
				p.Path != o.prefix+RewriteKey(&rw, key) || !strings.HasPrefix(path.Clean(p.Path), path.Clean(o.prefix)) {
				t.Fatalf("rewrite %+v key %q: URL %q (err %v)", rw, key, req.URL, err)
			}
		}
	})
}

// FuzzOriginRequestAt: the guarantees of FuzzOriginRequest hold for every
// origin of a failover rule, each with its own prefix and Host, and a
// configured Host never comes from the key.
func FuzzOriginRequestAt(f *testing.F) {
	for _, k := range []string{"image/a.jpg", "@evil/x", "//evil/x", "../x", "%2e%2e/x", "http://evil/x", ":8080/x", "a/%2F/b"} {
		f.Add("http://www.example-domain.com/dir1/", "https://10.0.0.1:8443/p/", "www.example.com", k, "v=1", true)
		f.Add("s3://b/p/", "http://[2001:db8::1]:81/q/", "", k, "", false)
	}
	f.Fuzz(func(t *testing.T, origin0, origin1, host, key, query string, passQuery bool) {
		r := &Rule{OriginList: []Origin{{URL: origin0}, {URL: origin1, Host: host}}, PassQueryString: passQuery}
		if err := r.Validate(); err != nil {
			return
		}
		for i, org := range r.OriginList {
			req, err := OriginRequestAt(r, i, key, http.Header{"Host": {"client.example"}}, query)
			if err != nil {
				if !errors.Is(err, ErrKeyRefused) {
					t.Fatalf("origin %d: error does not wrap ErrKeyRefused: %v", i+1, err)
				}
				continue
			}
			if req.OriginIndex != i {
				t.Fatalf("OriginIndex %d for origin %d", req.OriginIndex, i+1)
			}
			o, _ := parseOrigin(org.URL)
			if o.bucket {
				if req.BucketURL != org.URL || req.Key != key || req.URL != nil {
					t.Fatalf("origin %d: bucket request %+v", i+1, req)
				}
				continue
			}
			p, err := url.Parse(req.URL.String())
			if err != nil || p.Scheme != o.u.Scheme || p.Host != o.u.Host || p.User != nil || p.Fragment != "" ||
				p.Path != o.prefix+key || !strings.HasPrefix(path.Clean(p.Path), path.Clean(o.prefix)) {
				t.Fatalf("origin %d %q key %q: URL %q (err %v)", i+1, org.URL, key, req.URL, err)
			}
			if org.Host != "" && req.Host != org.Host {
				t.Fatalf("origin %d: Host %q, want the configured %q", i+1, req.Host, org.Host)
			}
			if org.Host == "" && req.Host != "" {
				t.Fatalf("origin %d: Host %q without a configured or passed Host", i+1, req.Host)
			}
		}
	})
}

package rules

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, y string) *Set {
	t.Helper()
	s, err := Parse(strings.NewReader(y))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, y)
	}
	return s
}

func TestParseEveryField(t *testing.T) {
	s := mustParse(t, `
- name: images
  key_prefix: img/
  key_suffix: .jpg
  origin: http://www.example-domain.com/dir1/
  replace_key_prefix_with: pictures/
  pass_query_string: true
  follow_redirects: false
  mirror_head: false
  headers:
    pass_all: false
    pass: [a-header, X-Trace]
    remove: [b-header]
    set:
      - {name: c-header, value: "000"}
      - name: Host
        value: www.example.com
- origin: s3://old-bucket/prefix/?endpoint=http://minio:9000
  replace_key_with: archive/${key}.bak
`)
	want := []Rule{{
		Name: "images", KeyPrefix: "img/", KeySuffix: ".jpg", Origin: "http://www.example-domain.com/dir1/",
		ReplaceKeyPrefixWith: "pictures/", PassQueryString: true, FollowRedirects: false, MirrorHead: false,
		Headers: Headers{Pass: []string{"a-header", "X-Trace"}, Remove: []string{"b-header"},
			Set: []HeaderValue{{"c-header", "000"}, {"Host", "www.example.com"}}},
	}, {
		Origin: "s3://old-bucket/prefix/?endpoint=http://minio:9000", ReplaceKeyWith: "archive/${key}.bak",
		FollowRedirects: true, MirrorHead: true,
	}}
	if !reflect.DeepEqual(s.Rules, want) {
		t.Errorf("got  %+v\nwant %+v", s.Rules, want)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings: %v", s.Warnings)
	}
	if s.Rules[0].IsBucket() || !s.Rules[1].IsBucket() {
		t.Error("IsBucket")
	}
}

func TestParseEmpty(t *testing.T) {
	for _, y := range []string{"", "\n# nothing\n", "[]", "~"} {
		s := mustParse(t, y)
		if len(s.Rules) != 0 {
			t.Errorf("%q: %d rules", y, len(s.Rules))
		}
	}
	for _, y := range []string{"", "target: x\n", "rules:\n", "rules: []\n", "# only a comment\n"} {
		s, err := ParseConfig(strings.NewReader(y))
		if err != nil || len(s.Rules) != 0 {
			t.Errorf("ParseConfig(%q) = %v, %v", y, s, err)
		}
	}
}

func TestParseScalarsAsWritten(t *testing.T) {
	s := mustParse(t, "- key_prefix: 2024-01-01\n  key_suffix: 1.50\n  name: 42\n  origin: http://h/\n")
	r := s.Rules[0]
	if r.KeyPrefix != "2024-01-01" || r.KeySuffix != "1.50" || r.Name != "42" {
		t.Errorf("%+v", r)
	}
}

func TestParseConfig(t *testing.T) {
	s, err := ParseConfig(strings.NewReader("target: s3://b\nrules:\n  - origin: http://h/\n    headers:\n      set: [{name: X-Mixed-Case, value: v}]\nserve:\n  listen: :1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules) != 1 || s.Rules[0].Headers.Set[0].Name != "X-Mixed-Case" {
		t.Fatalf("%+v", s.Rules)
	}
}

func TestParseErrors(t *testing.T) {
	six := strings.Repeat("- origin: http://h/\n", 6)
	tests := []struct {
		name, yaml string
		rule, line int
		field      string
		msg        string
	}{
		{"unknown field", "- origin: http://h/\n  key_prefx: a\n", 1, 2, "key_prefx", "unknown field"},
		{"camel case hint", "- origin: http://h/\n  keyPrefix: a\n", 1, 2, "keyPrefix", `did you mean "key_prefix"`},
		{"unknown header field", "- origin: http://h/\n  headers:\n    passall: true\n", 1, 3, "headers.passall", "unknown field"},
		{"unknown set field", "- origin: http://h/\n  headers:\n    set: [{name: a, value: b, x: c}]\n", 1, 3, "headers.set[1].x", "unknown field"},
		{"missing origin", "- key_prefix: a/\n", 1, 1, "origin", "missing"},
		{"wrong type bool", "- origin: http://h/\n  follow_redirects: yes\n", 1, 2, "follow_redirects", "expected true or false"},
		{"wrong type string", "- origin: http://h/\n  key_prefix: [a]\n", 1, 2, "key_prefix", "expected a string"},
		{"string for bool", "- origin: http://h/\n  mirror_head: \"false\"\n", 1, 2, "mirror_head", "expected true or false"},
		{"bool for string", "- origin: true\n", 1, 1, "origin", "expected a string"},
		{"not a list", "origin: http://h/\n", 0, 1, "rules", "expected a list"},
		{"rule not mapping", "- http://h/\n", 1, 1, "", "expected a mapping"},
		{"six rules", six, 6, 6, "", "at most 5"},
		{"duplicate field", "- origin: http://h/\n  origin: http://g/\n", 1, 2, "origin", "twice"},
		{"duplicate name", "- name: a\n  origin: http://h/\n- name: a\n  origin: http://g/\n", 2, 3, "name", "already the name of rule 1"},
		{"set without value", "- origin: http://h/\n  headers:\n    set: [{name: a}]\n", 1, 3, "headers.set[1]", "missing value"},
		{"set twice", "- origin: http://h/\n  headers:\n    set: [{name: a, value: b}, {name: A, value: c}]\n", 1, 3, "headers.set[2].name", "set twice"},
		{"bad header name", "- origin: http://h/\n  headers:\n    pass: [\"a b\"]\n", 1, 3, "headers.pass[1]", "not a valid header name"},
		{"header value CRLF", "- origin: http://h/\n  headers:\n    set: [{name: a, value: \"x\\r\\ny: z\"}]\n", 1, 3, "headers.set[1].value", "control character"},
		{"both replaces", "- origin: http://h/\n  replace_key_with: a\n  replace_key_prefix_with: b\n", 1, 2, "replace_key_with", "cannot be combined"},
		{"bad template", "- origin: http://h/\n  replace_key_with: ${name}\n", 1, 2, "replace_key_with", "only ${key}"},
		{"no scheme", "- origin: www.example.com\n", 1, 1, "origin", "no scheme"},
		{"ftp", "- origin: ftp://h/\n", 1, 1, "origin", "unsupported scheme"},
		{"no trailing slash", "- origin: http://h/dir1\n", 1, 1, "origin", `did you mean "http://h/dir1/"`},
		{"query", "- origin: http://h/?a=b\n", 1, 1, "origin", "query string"},
		{"fragment", "- origin: http://h/#x\n", 1, 1, "origin", "fragment"},
		{"userinfo", "- origin: http://u:p@h/\n", 1, 1, "origin", "password"},
		{"bad port", "- origin: http://h:99999/\n", 1, 1, "origin", "port"},
		{"empty port", "- origin: http://h:/\n", 1, 1, "origin", "empty port"},
		{"bad host", "- origin: http://h%20x/\n", 1, 1, "origin", ""},
		{"dot prefix", "- origin: http://h/a/../b/\n", 1, 1, "origin", "segments"},
		{"bucket headers", "- origin: s3://b\n  headers:\n    pass: [a]\n", 1, 2, "headers", "bucket origin"},
		{"s3 no bucket", "- origin: s3:///x\n", 1, 1, "origin", "no bucket"},
		{"s3 endpoint scheme", "- origin: s3://b?endpoint=htp://10.0.0.6:9000\n", 1, 1, "origin", "endpoint=htp://10.0.0.6:9000 is not an http(s) address"},
		{"syntax", "- origin: [\n", 0, 0, "", "invalid YAML"},
		{"control char", "- origin: http://h/\n  key_prefix: \"a\\tb\"\n", 1, 2, "key_prefix", "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.yaml))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Rule != tt.rule || (tt.line != 0 && e.Line != tt.line) || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got rule %d line %d field %q msg %q\nwant rule %d line %d field %q msg ~%q",
					e.Rule, e.Line, e.Field, e.Msg, tt.rule, tt.line, tt.field, tt.msg)
			}
		})
	}
}

// TestForbiddenHeaders: every header that can never be configured is refused
// in pass, remove and set, and the error names it.
func TestForbiddenHeaders(t *testing.T) {
	names := []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Range", "If-Match", "If-None-Match",
		"If-Modified-Since", "If-Unmodified-Since", "If-Range", "Authorization", "Date", "x-amz-date",
		"X-Amz-Security-Token", "x-amz-content-sha256", "content-length", "RANGE"}
	for _, n := range names {
		for _, list := range []string{"pass", "remove", "set"} {
			y := "- origin: http://h/\n  headers:\n    " + list + ": [" + `"` + n + `"` + "]\n"
			field := "headers." + list + "[1]"
			if list == "set" {
				y = "- origin: http://h/\n  headers:\n    set: [{name: \"" + n + "\", value: v}]\n"
				field += ".name"
			}
			_, err := Parse(strings.NewReader(y))
			var e *Error
			if !errors.As(err, &e) || e.Field != field || !strings.Contains(e.Msg, `"`+n+`" cannot be configured`) {
				t.Errorf("%s %s: err = %v", list, n, err)
			}
		}
	}
	// Host may be removed, set or passed; Cookie may be passed.
	mustParse(t, "- origin: http://h/\n  headers:\n    pass: [Cookie, Host, Accept-Encoding]\n    remove: [Host]\n")
	mustParse(t, "- origin: http://10.0.0.1/\n  headers:\n    set: [{name: Host, value: www.example.com}]\n")
	if _, err := Parse(strings.NewReader("- origin: http://h/\n  headers:\n    set: [{name: Host, value: \"a/b\"}]\n")); err == nil {
		t.Error("Host with a path accepted")
	}
}

func TestWarnings(t *testing.T) {
	s := mustParse(t, "- origin: http://h/\n  headers:\n    pass_all: true\n- origin: http://h/\n  headers:\n    pass_all: true\n    remove: [host]\n")
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "rule 1: headers.pass_all passes the client's Host") {
		t.Errorf("warnings = %q", s.Warnings)
	}
}

func TestMatchOrder(t *testing.T) {
	s := mustParse(t, `
- name: jpg-in-img
  key_prefix: img/
  key_suffix: .jpg
  origin: http://a/
- name: img
  key_prefix: img/
  origin: http://b/
- name: png
  key_suffix: .png
  origin: http://c/
- name: all
  origin: http://d/
`)
	tests := []struct {
		key  string
		want string
		idx  int
	}{
		{"img/x.jpg", "jpg-in-img", 0},
		{"img/x.png", "img", 1},
		{"img/", "img", 1},
		{"other/x.png", "png", 2},
		{"x.jpg", "all", 3},
		{"", "all", 3},
	}
	for _, tt := range tests {
		i, r := s.Match(tt.key)
		if i != tt.idx || r == nil || r.Name != tt.want {
			t.Errorf("Match(%q) = %d %v, want %d %s", tt.key, i, r, tt.idx, tt.want)
		}
	}
	s2 := mustParse(t, "- key_prefix: a/\n  origin: http://h/\n")
	if i, r := s2.Match("b/x"); i != -1 || r != nil {
		t.Errorf("no match: %d %v", i, r)
	}
	var nilSet *Set
	if i, _ := nilSet.Match("x"); i != -1 {
		t.Error("nil set matched")
	}
}

func TestOriginRequestURL(t *testing.T) {
	tests := []struct {
		origin, key, want string
		rule              Rule
	}{
		// The JD Cloud OSS documentation examples.
		{"http://www.example-domain.com/", "image/example_object.jpg", "http://www.example-domain.com/image/example_object.jpg", Rule{}},
		{"http://www.example-domain.com/dir1/", "image/example_object.jpg", "http://www.example-domain.com/dir1/image/example_object.jpg", Rule{}},
		{"http://www.example-domain.com", "a.jpg", "http://www.example-domain.com/a.jpg", Rule{}},
		{"https://h:8443/p/", "a", "https://h:8443/p/a", Rule{}},
		{"http://10.0.0.5/", "a", "http://10.0.0.5/a", Rule{}},
		{"http://[2001:db8::1]:8080/x/", "a", "http://[2001:db8::1]:8080/x/a", Rule{}},
		// Every segment is escaped so the origin sees the same key.
		{"http://h/", "a b+c%d#e?f", "http://h/a%20b%2Bc%25d%23e%3Ff", Rule{}},
		{"http://h/", "dir/ü.txt", "http://h/dir/%C3%BC.txt", Rule{}},
		{"http://h/", "@evil/x", "http://h/@evil/x", Rule{}},
		{"http://h/", "a:b/c", "http://h/a:b/c", Rule{}},
		{"http://h/", `a\b`, "http://h/a%5Cb", Rule{}},
		{"http://h/", "...", "http://h/...", Rule{}},
		{"http://h/", "x;jsessionid=1", "http://h/x%3Bjsessionid=1", Rule{}},
		// Rewriting.
		{"http://h/", "img/a.jpg", "http://h/pictures/a.jpg", Rule{KeyPrefix: "img/", ReplaceKeyPrefixWith: "pictures/"}},
		{"http://h/", "a.jpg", "http://h/pre/a.jpg", Rule{ReplaceKeyPrefixWith: "pre/"}},
		{"http://h/", "a.jpg", "http://h/v/a.jpg/x", Rule{ReplaceKeyWith: "v/${key}/x"}},
		{"http://h/", "a.jpg", "http://h/fixed", Rule{ReplaceKeyWith: "fixed"}},
	}
	for _, tt := range tests {
		r := tt.rule
		r.Origin = tt.origin
		req, err := OriginRequest(&r, tt.key, nil, "")
		if err != nil {
			t.Errorf("%s + %q: %v", tt.origin, tt.key, err)
			continue
		}
		if got := req.URL.String(); got != tt.want {
			t.Errorf("%s + %q = %s, want %s", tt.origin, tt.key, got, tt.want)
		}
	}
}

func TestOriginRequestRefused(t *testing.T) {
	keys := []string{"", "../x", "a/../x", "./x", "a/./b", "a/..", "..", ".", "//evil/x", "/abs", "a//b", "dir/",
		"%2e%2e/x", "%2E./x", `..\x`, `a\..\b`, "a\x00b", "a\nb", "a\rb", "\x7f", "a\u0085b", "bad\xffutf8"}
	r := &Rule{Origin: "http://h/dir1/"}
	for _, k := range keys {
		req, err := OriginRequest(r, k, nil, "")
		if !errors.Is(err, ErrKeyRefused) {
			t.Errorf("key %q: err = %v, req = %v", k, err, req)
		}
	}
	// A rewrite that produces a dot segment is refused too.
	rw := &Rule{Origin: "http://h/", ReplaceKeyWith: "../${key}"}
	if _, err := OriginRequest(rw, "a", nil, ""); !errors.Is(err, ErrKeyRefused) {
		t.Errorf("rewritten dot segment: %v", err)
	}
	// Bucket origins refuse the same keys (a file:// origin must not be escaped).
	b := &Rule{Origin: "file:///srv/www"}
	if _, err := OriginRequest(b, "../etc/passwd", nil, ""); !errors.Is(err, ErrKeyRefused) {
		t.Errorf("bucket dot segment: %v", err)
	}
	// A query with a fragment or spaces is refused when passed.
	q := &Rule{Origin: "http://h/", PassQueryString: true}
	for _, bad := range []string{"a=b#c", "a b", "a=\n"} {
		if _, err := OriginRequest(q, "k", nil, bad); !errors.Is(err, ErrKeyRefused) {
			t.Errorf("query %q: %v", bad, err)
		}
	}
}

func TestOriginRequestQuery(t *testing.T) {
	r := &Rule{Origin: "http://h/"}
	req, err := OriginRequest(r, "k", nil, "v=1&x=%20")
	if err != nil || req.URL.RawQuery != "" {
		t.Fatalf("query passed without pass_query_string: %v %v", req, err)
	}
	r.PassQueryString = true
	req, err = OriginRequest(r, "k", nil, "v=1&x=%20")
	if err != nil || req.URL.String() != "http://h/k?v=1&x=%20" {
		t.Fatalf("got %v %v", req.URL, err)
	}
}

func TestOriginRequestBucket(t *testing.T) {
	r := &Rule{Origin: "s3://old/prefix/?endpoint=http://m:9000", KeyPrefix: "img/", ReplaceKeyPrefixWith: "images/"}
	req, err := OriginRequest(r, "img/a b.jpg", http.Header{"Cookie": {"x"}}, "q=1")
	if err != nil {
		t.Fatal(err)
	}
	if req.URL != nil || req.BucketURL != r.Origin || req.Key != "images/a b.jpg" || len(req.Header) != 0 {
		t.Errorf("%+v", req)
	}
}

// TestHeaderPolicy: the JD Cloud example and the order start, pass, remove, set.
func TestHeaderPolicy(t *testing.T) {
	client := http.Header{}
	client.Set("a-header", "111")
	client.Set("b-header", "222")
	client.Set("c-header", "333")
	client.Set("Authorization", "AWS4-HMAC-SHA256 secret")
	client.Set("Cookie", "session=1")
	client.Set("Range", "bytes=0-1")
	client.Set("If-None-Match", `"x"`)
	client.Set("X-Amz-Date", "now")
	client.Set("Connection", "keep-alive, X-Hop")
	client.Set("X-Hop", "h")
	client.Set("Host", "cdn.example.com")
	client.Set("Transfer-Encoding", "chunked")

	type hv = map[string][]string
	tests := []struct {
		name string
		h    Headers
		want hv
		host string
	}{
		{"jd example", Headers{Pass: []string{"a-header"}, Remove: []string{"b-header"}, Set: []HeaderValue{{"c-header", "000"}}},
			hv{"a-header": {"111"}, "c-header": {"000"}}, ""},
		{"empty policy sends nothing", Headers{}, hv{}, ""},
		{"pass_all drops forbidden and hop-by-hop", Headers{PassAll: true, Remove: []string{"host"}},
			hv{"A-Header": {"111"}, "B-Header": {"222"}, "C-Header": {"333"}, "Cookie": {"session=1"}}, ""},
		{"pass_all passes Host", Headers{PassAll: true, Remove: []string{"cookie", "A-HEADER"}},
			hv{"B-Header": {"222"}, "C-Header": {"333"}}, "cdn.example.com"},
		{"pass_all then remove then set", Headers{PassAll: true, Remove: []string{"a-header", "Host"}, Set: []HeaderValue{{"b-header", "x"}, {"X-New", "n"}}},
			hv{"C-Header": {"333"}, "Cookie": {"session=1"}, "b-header": {"x"}, "X-New": {"n"}}, ""},
		{"set Host for an IP origin", Headers{Set: []HeaderValue{{"Host", "www.example.com"}}}, hv{}, "www.example.com"},
		{"set wins over remove", Headers{Remove: []string{"X-A"}, Set: []HeaderValue{{"x-a", "1"}}}, hv{"x-a": {"1"}}, ""},
		{"pass keeps configured case", Headers{Pass: []string{"COOKIE", "missing"}}, hv{"COOKIE": {"session=1"}}, ""},
		{"pass Host", Headers{Pass: []string{"Host"}}, hv{}, "cdn.example.com"},
		{"pass of a connection-named header is dropped", Headers{Pass: []string{"X-Hop"}}, hv{}, ""},
		{"forbidden header in code-built rule ignored", Headers{Pass: []string{"Authorization"}, Set: []HeaderValue{{"Range", "bytes=1-2"}}}, hv{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Rule{Origin: "http://10.0.0.1/", Headers: tt.h}
			req, err := OriginRequest(r, "k", client, "")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(map[string][]string(req.Header), map[string][]string(tt.want)) {
				t.Errorf("headers = %v\nwant      %v", req.Header, tt.want)
			}
			if req.Host != tt.host {
				t.Errorf("host = %q, want %q", req.Host, tt.host)
			}
		})
	}
	// The client's header map is not modified.
	if client.Get("b-header") != "222" || len(client) != 12 {
		t.Errorf("client headers changed: %v", client)
	}
}

func TestHeaderValues(t *testing.T) {
	h := http.Header{"a-header": {"1"}, "A-Header": {"2"}}
	if got := HeaderValues(h, "A-HEADER"); len(got) != 2 {
		t.Errorf("got %v", got)
	}
}

func TestNewSet(t *testing.T) {
	rules := make([]Rule, 6)
	for i := range rules {
		rules[i] = Rule{Origin: "http://h/"}
	}
	if _, err := NewSet(rules[:5]); err != nil {
		t.Fatal(err)
	}
	_, err := NewSet(rules)
	var e *Error
	if !errors.As(err, &e) || e.Rule != 6 || !strings.Contains(e.Msg, "at most 5") {
		t.Errorf("6 rules: %v", err)
	}
	if _, err := NewSet([]Rule{{Origin: "http://h/", Headers: Headers{Set: []HeaderValue{{"Content-Length", "1"}}}}}); err == nil ||
		err.Error() != `rules: rule 1: headers.set[1].name: "Content-Length" cannot be configured: origin requests have no body; the length of the object is the origin's` {
		t.Errorf("err = %v", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	in := mustParse(t, `
- name: "true"
  key_prefix: "123"
  key_suffix: "*.jpg"
  origin: http://h/dir/
  replace_key_with: "${key}"
  pass_query_string: true
  follow_redirects: false
  mirror_head: false
  headers:
    pass_all: true
    pass: [X-A]
    remove: [Host, "X-B"]
    set: [{name: X-Y, value: "a: b # c"}, {name: X-Empty, value: ""}]
- origin: "s3://b/p?endpoint=http://m:9000&region=us-east-1"
`)
	roundTrip(t, in.Rules)
	empty, _ := MarshalConfig(nil)
	if string(empty) != "rules: []\n" {
		t.Errorf("empty = %q", empty)
	}
}

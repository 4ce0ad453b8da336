package rules

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestParseFailoverFields: every field of issue 17 parses into the model,
// with the defaults left alone when a field is absent.
func TestParseFailoverFields(t *testing.T) {
	s := mustParse(t, `
- name: client-a
  key_prefix: video/
  when_headers:
    - {name: X-Client, value: a}
    - name: user-agent
      value: "Mozilla/5.0 (X11)"
  origins:
    - http://10.0.0.1/media/
    - {url: "http://10.0.0.2/", host: www.example.com}
    - url: s3://backup/media/?endpoint=http://minio:9000
  failover_on: [network, 5xx, 404, "429"]
  pass_status: [403, 410]
  store: false
- origin: http://h/
  store: true
`)
	want := []Rule{{
		Name: "client-a", KeyPrefix: "video/",
		WhenHeaders: []HeaderValue{{"X-Client", "a"}, {"user-agent", "Mozilla/5.0 (X11)"}},
		OriginList: []Origin{{URL: "http://10.0.0.1/media/"}, {URL: "http://10.0.0.2/", Host: "www.example.com"},
			{URL: "s3://backup/media/?endpoint=http://minio:9000"}},
		FailoverOn: []string{"network", "5xx", "404", "429"},
		PassStatus: []int{403, 410}, NoStore: true,
		FollowRedirects: true, MirrorHead: true,
	}, {Origin: "http://h/", FollowRedirects: true, MirrorHead: true}}
	if !reflect.DeepEqual(s.Rules, want) {
		t.Fatalf("got  %+v\nwant %+v", s.Rules, want)
	}
	r := &s.Rules[0]
	if got := r.Origins(); len(got) != 3 || got[1].Host != "www.example.com" || !got[2].IsBucket() || got[0].IsBucket() {
		t.Errorf("Origins() = %+v", got)
	}
	if r.IsBucket() || r.Stores() || !s.Rules[1].Stores() {
		t.Errorf("IsBucket %v Stores %v %v", r.IsBucket(), r.Stores(), s.Rules[1].Stores())
	}
	if got := s.Rules[1].Origins(); !reflect.DeepEqual(got, []Origin{{URL: "http://h/"}}) {
		t.Errorf("one-origin form: Origins() = %+v", got)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("warnings: %q", s.Warnings)
	}
}

// TestParseFailoverErrors: bad input for every new field is an *Error naming
// the rule, the field and the line.
func TestParseFailoverErrors(t *testing.T) {
	six := "- origins: [http://a/, http://b/, http://c/, http://d/, http://e/, http://f/]\n"
	eleven := "- origin: http://h/\n  when_headers:\n" + strings.Repeat("    - {name: X-A, value: a}\n", 11)
	tests := []struct {
		name, yaml string
		line       int
		field, msg string
	}{
		// origins
		{"origin and origins", "- origin: http://h/\n  origins: [http://g/]\n", 3 - 1, "origins", "cannot be combined with origin"},
		{"neither", "- key_prefix: a/\n", 1, "origin", "or origins: [...] to fail over"},
		{"empty origins", "- origins: []\n", 1, "origins", "expected a list of origins"},
		{"origins not a list", "- origins: http://h/\n", 1, "origins", "expected a list of origins"},
		{"six origins", six, 1, "origins", "at most 5 origins"},
		{"bad origin url", "- origins:\n    - http://h/\n    - www.example.com\n", 3, "origins[2].url", "no scheme"},
		{"origin missing url", "- origins:\n    - {host: h}\n", 2, "origins[1]", "missing url"},
		{"origin empty url", "- origins:\n    - {url: ''}\n", 2, "origins[1].url", "missing"},
		{"origin unknown field", "- origins:\n    - {url: 'http://h/', Host: h}\n", 2, "origins[1].Host", "unknown field"},
		{"origin url twice", "- origins:\n    - {url: 'http://h/', url: 'http://g/'}\n", 2, "origins[1].url", "twice"},
		{"origin bad host", "- origins:\n    - {url: 'http://h/', host: 'a/b'}\n", 2, "origins[1].host", "host or host:port"},
		{"bucket with host", "- origins:\n    - {url: 's3://b', host: 'h'}\n", 2, "origins[1].host", "no Host"},
		{"origin not scalar", "- origins:\n    - [http://h/]\n", 2, "origins[1]", "expected a URL"},
		{"duplicate origin", "- origins: [http://h/, http://g/, http://h/]\n", 1, "origins[3]", "already origin 1"},
		{"loop field names the origin", "- origins:\n    - http://h/dir\n", 2, "origins[1].url", `did you mean "http://h/dir/"`},
		// failover_on
		{"failover unknown word", "- origins: [http://h/, http://g/]\n  failover_on: [errors]\n", 2, "failover_on[1]", "expected network, timeout"},
		{"failover 3xx", "- origins: [http://h/, http://g/]\n  failover_on: [302]\n", 2, "failover_on[1]", "from 400 to 599"},
		{"failover 200", "- origins: [http://h/, http://g/]\n  failover_on: [network, 200]\n", 2, "failover_on[2]", "from 400 to 599"},
		{"failover covered", "- origins: [http://h/, http://g/]\n  failover_on: [503, 5xx]\n", 2, "failover_on[1]", "503 is already covered by 5xx"},
		{"failover covered 4xx", "- origins: [http://h/, http://g/]\n  failover_on: [4xx, 429]\n", 2, "failover_on[2]", "covered by 4xx"},
		{"failover twice", "- origins: [http://h/, http://g/]\n  failover_on: [5xx, 5xx]\n", 2, "failover_on[2]", "already item 1"},
		{"failover leading zero", "- origins: [http://h/, http://g/]\n  failover_on: ['0404']\n", 2, "failover_on[1]", "expected network"},
		{"failover upper case", "- origins: [http://h/, http://g/]\n  failover_on: [5XX]\n", 2, "failover_on[1]", "expected network"},
		{"failover empty", "- origins: [http://h/, http://g/]\n  failover_on: []\n", 2, "failover_on", "expected a list"},
		{"failover bool", "- origins: [http://h/, http://g/]\n  failover_on: [true]\n", 2, "failover_on[1]", "got a boolean"},
		// when_headers
		{"when not a list", "- origin: http://h/\n  when_headers: {name: a, value: b}\n", 2, "when_headers", "expected a list of {name, value}"},
		{"when missing value", "- origin: http://h/\n  when_headers: [{name: X-A}]\n", 2, "when_headers[1]", "missing value"},
		{"when unknown field", "- origin: http://h/\n  when_headers: [{name: X-A, equals: b}]\n", 2, "when_headers[1].equals", "unknown field"},
		{"when bad name", "- origin: http://h/\n  when_headers: [{name: 'X A', value: b}]\n", 2, "when_headers[1].name", "not a valid header name"},
		{"when empty value", "- origin: http://h/\n  when_headers: [{name: X-A, value: ''}]\n", 2, "when_headers[1].value", "is empty"},
		{"when spaces", "- origin: http://h/\n  when_headers: [{name: X-A, value: ' a'}]\n", 2, "when_headers[1].value", "leading or trailing spaces"},
		{"when CRLF", "- origin: http://h/\n  when_headers: [{name: X-A, value: \"a\\r\\nb: c\"}]\n", 2, "when_headers[1].value", "control character"},
		{"when twice", "- origin: http://h/\n  when_headers: [{name: X-A, value: a}, {name: x-a, value: b}]\n", 2, "when_headers[2].name", "already condition 1"},
		{"eleven conditions", eleven, 2, "when_headers", "at most 10"},
		// pass_status
		{"pass 404", "- origin: http://h/\n  pass_status: [403, 404]\n", 2, "pass_status[2]", "404 is already answered 404 NoSuchKey"},
		{"pass 200", "- origin: http://h/\n  pass_status: [200]\n", 2, "pass_status[1]", "from 400 to 599"},
		{"pass 600", "- origin: http://h/\n  pass_status: [600]\n", 2, "pass_status[1]", "from 400 to 599"},
		{"pass string", "- origin: http://h/\n  pass_status: ['403']\n", 2, "pass_status[1]", "expected a status code"},
		{"pass word", "- origin: http://h/\n  pass_status: [4xx]\n", 2, "pass_status[1]", "expected a status code"},
		{"pass twice", "- origin: http://h/\n  pass_status: [403, 410, 403]\n", 2, "pass_status[3]", "already item 1"},
		{"pass scalar", "- origin: http://h/\n  pass_status: 403\n", 2, "pass_status", "expected a list of status codes"},
		{"pass bucket", "- origin: s3://b\n  pass_status: [403]\n", 2, "pass_status", "no HTTP answer"},
		// store
		{"store string", "- origin: http://h/\n  store: \"no\"\n", 2, "store", "expected true or false"},
		{"store twice", "- origin: http://h/\n  store: false\n  store: true\n", 3, "store", "twice"},
		// headers on a rule whose origins are all buckets
		{"all-bucket headers", "- origins: [s3://a, s3://b]\n  headers:\n    pass: [a]\n", 2, "headers", "bucket origin"},
		{"unknown field lists new ones", "- origin: http://h/\n  whenHeaders: []\n", 2, "whenHeaders", `did you mean "when_headers"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.yaml))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Rule != 1 || e.Line != tt.line || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got rule %d line %d field %q msg %q\nwant rule 1 line %d field %q msg ~%q",
					e.Rule, e.Line, e.Field, e.Msg, tt.line, tt.field, tt.msg)
			}
			if !strings.Contains(e.Error(), "rule 1 (line ") || !strings.Contains(e.Error(), tt.field+": ") {
				t.Errorf("message %q does not name the rule, line and field", e.Error())
			}
		})
	}
}

// TestParseFailoverAccepted: edge cases that are valid.
func TestParseFailoverAccepted(t *testing.T) {
	s := mustParse(t, `
- key_prefix: a/
  origins: [http://h/, http://g/]
  failover_on: [timeout, 4xx, 404, 5xx]
- key_prefix: b/
  origins: [{url: "http://10.0.0.1/", host: "www.example.com:8080"}]
- key_prefix: c/
  origins: [s3://a, http://h/]
  pass_status: [451]
  headers:
    set: [{name: X-From, value: ferry}]
- key_prefix: d/
  when_headers:
    - {name: X-1, value: "1"}
    - {name: X-2, value: "2"}
    - {name: X-3, value: "3"}
    - {name: X-4, value: "4"}
    - {name: X-5, value: "5"}
    - {name: X-6, value: "6"}
    - {name: X-7, value: "7"}
    - {name: X-8, value: "8"}
    - {name: X-9, value: "9"}
    - {name: Host, value: "cdn.example.com"}
  origins: [http://a/, http://b/, http://c/, http://d/, http://e/]
`)
	if len(s.Rules) != 4 || len(s.Rules[3].WhenHeaders) != MaxWhenHeaders || len(s.Rules[3].Origins()) != MaxOrigins {
		t.Errorf("%+v", s.Rules)
	}
}

func TestFailoverWarnings(t *testing.T) {
	s := mustParse(t, `
- key_prefix: a/
  origin: http://h/
  failover_on: [5xx, 404]
- key_prefix: b/
  origins: [http://h/]
  failover_on: [5xx]
- origins: [http://h/, http://g/]
  store: false
- key_prefix: proxied/
  origin: http://h/
  store: false
`)
	want := []string{
		"rule 1: failover_on has no effect with one origin",
		"rule 2: failover_on has no effect with one origin",
		"rule 3: store: false on a rule that matches every key",
	}
	if len(s.Warnings) != len(want) {
		t.Fatalf("warnings = %q", s.Warnings)
	}
	for i, w := range want {
		if !strings.HasPrefix(s.Warnings[i], w) {
			t.Errorf("warning %d = %q, want %q...", i, s.Warnings[i], w)
		}
	}
	// pass_all passes the client's Host only to origins without their own.
	s = mustParse(t, `
- key_prefix: own-hosts/
  origins: [{url: "http://10.0.0.1/", host: www.example.com}, s3://b]
  headers:
    pass_all: true
- key_prefix: one-without/
  origins: [{url: "http://10.0.0.1/", host: www.example.com}, http://10.0.0.2/]
  headers:
    pass_all: true
`)
	if len(s.Warnings) != 1 || !strings.HasPrefix(s.Warnings[0], "rule 2: headers.pass_all passes the client's Host") {
		t.Errorf("warnings = %q", s.Warnings)
	}
}

// TestNewSetFailover: rules built in code are validated the same way, with
// empty lists taken as absent.
func TestNewSetFailover(t *testing.T) {
	s, err := NewSet([]Rule{{Origin: "http://h/", OriginList: []Origin{}, FailoverOn: []string{}, PassStatus: []int{}, WhenHeaders: []HeaderValue{}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Rules[0]; r.OriginList != nil || r.FailoverOn != nil || r.PassStatus != nil || r.WhenHeaders != nil {
		t.Errorf("empty lists kept: %+v", r)
	}
	_, err = NewSet([]Rule{{OriginList: []Origin{{URL: "http://h/"}}, PassStatus: []int{404}}})
	if err == nil || err.Error() != "rules: rule 1: pass_status[1]: 404 is already answered 404 NoSuchKey (and never stored)" {
		t.Errorf("err = %v", err)
	}
}

func TestMarshalRoundTripFailover(t *testing.T) {
	in := mustParse(t, `
- name: a
  key_prefix: v/
  when_headers: [{name: X-Client, value: "a: b"}, {name: X-N, value: "1"}]
  origins:
    - "http://10.0.0.1/media/"
    - {url: "http://10.0.0.2/", host: "www.example.com"}
    - "s3://b/p?endpoint=http://m:9000&region=us-east-1"
  failover_on: [network, timeout, 5xx, 404, 429]
  pass_status: [403, 410]
  store: false
- origin: http://h/
`)
	data := roundTrip(t, in.Rules)
	const want = `rules:
  - name: a
    key_prefix: v/
    when_headers:
      - {name: X-Client, value: 'a: b'}
      - {name: X-N, value: "1"}
    origins:
      - http://10.0.0.1/media/
      - {url: 'http://10.0.0.2/', host: www.example.com}
      - s3://b/p?endpoint=http://m:9000&region=us-east-1
    failover_on: [network, timeout, 5xx, 404, 429]
    pass_status: [403, 410]
    store: false
  - origin: http://h/
`
	if string(data) != want {
		t.Errorf("encoded:\n%s\nwant:\n%s", data, want)
	}
}

// roundTrip encodes rules with MarshalConfig, parses them back, requires the
// same rules and returns the encoded text.
func roundTrip(t *testing.T, rules []Rule) []byte {
	t.Helper()
	data, err := MarshalConfig(rules)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseConfig(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(rules, out.Rules) {
		t.Errorf("round trip:\n%s\n got %+v\nwant %+v", data, out.Rules, rules)
	}
	return data
}

func TestRuleJSONStore(t *testing.T) {
	data, err := json.Marshal([]Rule{{Origin: "http://h/"}, {OriginList: []Origin{{URL: "http://h/", Host: "x"}}, NoStore: true, PassStatus: []int{403}}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{`"origin":"http://h/"`, `"store":true`, `"store":false`, `"origins":[{"url":"http://h/","host":"x"}]`, `"pass_status":[403]`} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s", s, want)
		}
	}
	if strings.Contains(s, "NoStore") || strings.Count(s, `"origin":`) != 1 {
		t.Errorf("%s", s)
	}
}

func TestMatchRequest(t *testing.T) {
	s := mustParse(t, `
- name: client-a
  key_prefix: v/
  when_headers: [{name: X-Client, value: a}, {name: X-Tier, value: Gold}]
  origin: http://a/
- name: by-host
  when_headers: [{name: Host, value: old.example.com}]
  origin: http://b/
- name: rest
  key_prefix: v/
  origin: http://c/
`)
	tests := []struct {
		key  string
		h    http.Header
		want string
	}{
		{"v/1", http.Header{"X-Client": {"a"}, "X-Tier": {"Gold"}}, "client-a"},
		{"v/1", http.Header{"x-client": {"a"}, "X-TIER": {"Gold"}}, "client-a"},      // names case-insensitive
		{"v/1", http.Header{"X-Client": {"b", "a"}, "X-Tier": {"Gold"}}, "client-a"}, // any value
		{"v/1", http.Header{"X-Client": {"A"}, "X-Tier": {"Gold"}}, "rest"},          // values exact
		{"v/1", http.Header{"X-Client": {"a"}, "X-Tier": {"gold"}}, "rest"},
		{"v/1", http.Header{"X-Client": {"a"}}, "rest"}, // all must hold
		{"v/1", http.Header{"X-Client": {"a, b"}, "X-Tier": {"Gold"}}, "rest"},
		{"w/1", http.Header{"X-Client": {"a"}, "X-Tier": {"Gold"}}, ""}, // key conditions still apply
		{"w/1", http.Header{"Host": {"old.example.com"}}, "by-host"},
		{"v/1", nil, "rest"},
	}
	for _, tt := range tests {
		i, r := s.MatchRequest(tt.key, tt.h)
		got := ""
		if r != nil {
			got = r.Name
			if &s.Rules[i] != r {
				t.Errorf("index %d does not point at %s", i, r.Name)
			}
		} else if i != -1 {
			t.Errorf("no rule but index %d", i)
		}
		if got != tt.want {
			t.Errorf("MatchRequest(%q, %v) = %q, want %q", tt.key, tt.h, got, tt.want)
		}
	}
	// Match means "no request headers": rules with when_headers never match.
	if _, r := s.Match("w/1"); r != nil {
		t.Errorf("Match matched %s", r.Name)
	}
	if _, r := s.Match("v/1"); r == nil || r.Name != "rest" {
		t.Errorf("Match(v/1) = %v", r)
	}
	unmet, ok := s.Rules[0].UnmetHeader(http.Header{"X-Client": {"a"}, "X-Tier": {"Silver"}})
	if !ok || unmet != (HeaderValue{"X-Tier", "Gold"}) {
		t.Errorf("UnmetHeader = %v %v", unmet, ok)
	}
	if _, ok := s.Rules[2].UnmetHeader(nil); ok {
		t.Error("a rule without when_headers has an unmet header")
	}
}

func TestFailoverPolicy(t *testing.T) {
	def := &Rule{OriginList: []Origin{{URL: "http://a/"}, {URL: "http://b/"}}}
	custom := &Rule{FailoverOn: []string{"5xx", "404", "429"}}
	all := &Rule{FailoverOn: []string{"network", "timeout", "4xx", "5xx"}}
	tests := []struct {
		r      *Rule
		status int
		want   bool
	}{
		{def, 500, true}, {def, 503, true}, {def, 599, true}, {def, 404, false}, {def, 403, false}, {def, 429, false},
		{def, 200, false}, {def, 206, false}, {def, 302, false}, {def, 600, false},
		{custom, 502, true}, {custom, 404, true}, {custom, 429, true}, {custom, 403, false},
		{all, 400, true}, {all, 403, true}, {all, 451, true}, {all, 404, false}, {all, 500, true}, {all, 304, false},
	}
	for _, tt := range tests {
		if got := tt.r.FailoverOnStatus(tt.status); got != tt.want {
			t.Errorf("%v.FailoverOnStatus(%d) = %v, want %v", tt.r.FailoverOn, tt.status, got, tt.want)
		}
	}
	if !def.FailoverOnError(false) || !def.FailoverOnError(true) {
		t.Error("default policy: network errors and timeouts fail over")
	}
	if custom.FailoverOnError(false) || custom.FailoverOnError(true) {
		t.Error("an explicit list without network and timeout does not fail over on them")
	}
	if tm := (&Rule{FailoverOn: []string{"timeout"}}); !tm.FailoverOnError(true) || tm.FailoverOnError(false) {
		t.Error("timeout only")
	}
	p := &Rule{PassStatus: []int{403, 410}}
	if !p.PassesStatus(403) || !p.PassesStatus(410) || p.PassesStatus(404) || p.PassesStatus(500) || def.PassesStatus(403) {
		t.Error("PassesStatus")
	}
}

// TestOriginRequestAt: each origin gets its own URL (prefix, scheme, port)
// and Host; the key and the header policy are the same for all.
func TestOriginRequestAt(t *testing.T) {
	r := &Rule{
		KeyPrefix: "img/", ReplaceKeyPrefixWith: "pictures/", PassQueryString: true,
		OriginList: []Origin{
			{URL: "http://10.0.0.1/dir1/", Host: "www.example.com"},
			{URL: "https://cdn.example.net:8443/"},
			{URL: "s3://backup/site/?endpoint=http://minio:9000"},
		},
		Headers: Headers{Pass: []string{"X-Trace"}, Set: []HeaderValue{{"Host", "policy.example.com"}}},
	}
	client := http.Header{"X-Trace": {"t1"}, "Cookie": {"c"}, "Host": {"ferry.example.com"}}
	wants := []struct{ url, host, bucket, key string }{
		{"http://10.0.0.1/dir1/pictures/a%20b.jpg?v=1", "www.example.com", "", ""},
		{"https://cdn.example.net:8443/pictures/a%20b.jpg?v=1", "policy.example.com", "", ""},
		{"", "", "s3://backup/site/?endpoint=http://minio:9000", "pictures/a b.jpg"},
	}
	for i, w := range wants {
		req, err := OriginRequestAt(r, i, "img/a b.jpg", client, "v=1")
		if err != nil {
			t.Fatalf("origin %d: %v", i+1, err)
		}
		if req.OriginIndex != i {
			t.Errorf("origin %d: OriginIndex %d", i+1, req.OriginIndex)
		}
		if w.bucket != "" {
			if req.URL != nil || req.BucketURL != w.bucket || req.Key != w.key || len(req.Header) != 0 {
				t.Errorf("origin %d: %+v", i+1, req)
			}
			continue
		}
		if req.URL.String() != w.url || req.Host != w.host || !reflect.DeepEqual(req.Header, http.Header{"X-Trace": {"t1"}}) {
			t.Errorf("origin %d: %s Host %q %v, want %s Host %q", i+1, req.URL, req.Host, req.Header, w.url, w.host)
		}
	}
	first, err := OriginRequest(r, "img/a b.jpg", client, "v=1")
	if err != nil || first.URL.String() != wants[0].url || first.Host != wants[0].host {
		t.Errorf("OriginRequest is not origin 1: %v %v", first, err)
	}
	for _, i := range []int{-1, 3} {
		if _, err := OriginRequestAt(r, i, "img/a", nil, ""); err == nil || errors.Is(err, ErrKeyRefused) ||
			!strings.Contains(err.Error(), "the rule has 3 origins") {
			t.Errorf("origin index %d: %v", i, err)
		}
	}
	// The security checks hold for every origin.
	for i := range r.OriginList {
		for _, k := range []string{"../x", "img/../../x", "//evil/x", "img/%2e%2e/x", "img/a\x00"} {
			if _, err := OriginRequestAt(r, i, k, nil, ""); !errors.Is(err, ErrKeyRefused) {
				t.Errorf("origin %d key %q: %v", i+1, k, err)
			}
		}
	}
}

func TestCheckLoopEveryOrigin(t *testing.T) {
	s := &Set{Rules: []Rule{{OriginList: []Origin{{URL: "http://origin.example/"}, {URL: "http://127.0.0.1:8080/", Host: "www.example.com"}}}}}
	err := CheckLoop(s, []string{":8080"})
	var e *Error
	if !errors.As(err, &e) || e.Rule != 1 || e.Field != "origins[2].url" || !strings.Contains(e.Msg, "mirror loop") {
		t.Errorf("second origin on serve's address: %v", err)
	}
	s.Rules[0].OriginList[1] = Origin{URL: "s3://target/?endpoint=http://minio:9000"}
	if err := CheckLoop(s, []string{"s3://target?endpoint=http://minio:9000"}); err == nil || !strings.Contains(err.Error(), "origins[2].url") {
		t.Errorf("second origin is the target bucket: %v", err)
	}
	if err := CheckLoop(s, []string{":8080", "s3://other?endpoint=http://minio:9000"}); err != nil {
		t.Errorf("no loop: %v", err)
	}
}

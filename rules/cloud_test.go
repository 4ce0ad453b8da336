package rules

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var cloudRules = []Rule{{
	KeyPrefix: "image/", Origin: "http://www.example-domain.com/dir1/", ReplaceKeyPrefixWith: "img/",
	PassQueryString: true, FollowRedirects: true, MirrorHead: true,
	Headers: Headers{Pass: []string{"a-header"}, Remove: []string{"b-header"}, Set: []HeaderValue{{"c-header", "000"}, {"Host", "www.example.com"}}},
}, {
	Origin: "https://10.0.0.1:8443/", ReplaceKeyWith: "v2/${key}", FollowRedirects: false, MirrorHead: true,
	Headers: Headers{PassAll: true, Remove: []string{"Host"}},
}, {
	KeyPrefix: "a b/", Origin: "http://h/", FollowRedirects: true, MirrorHead: true,
}}

func TestCloudRoundTrip(t *testing.T) {
	for _, format := range []string{FormatJDCloud, FormatAliyun} {
		t.Run(format, func(t *testing.T) {
			data, warn, err := Export(format, cloudRules)
			if err != nil || len(warn) != 0 {
				t.Fatalf("Export: %v %v", err, warn)
			}
			back, warn, err := Import(format, data)
			if err != nil || len(warn) != 0 {
				t.Fatalf("Import: %v %v\n%s", err, warn, data)
			}
			if !reflect.DeepEqual(back, cloudRules) {
				t.Errorf("round trip:\n%s\n got %+v\nwant %+v", data, back, cloudRules)
			}
			if _, err := NewSet(back); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestExportJDShape(t *testing.T) {
	data, _, err := Export(FormatJDCloud, cloudRules[:1])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"backSourceRules"`, `"keyPrefixEquals": "image/"`, `"protocol": "http"`,
		`"hostName": "www.example-domain.com/dir1"`, `"replaceKeyPrefixWith": "img/"`, `"allowQueryString": true`,
		`"followRedirects": true`, `"allowAllHeaders": false`, `"allowHeaders": [`, `"notAllowHeaders": [`,
		"\"setHeaders\": {\n          \"c-header\": \"000\",\n          \"Host\": \"www.example.com\"\n        }"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("missing %s in\n%s", want, data)
		}
	}
}

func TestExportRefusals(t *testing.T) {
	if _, _, err := Export(FormatJDCloud, []Rule{{Origin: "http://h/", KeySuffix: ".jpg"}}); err == nil || !strings.Contains(err.Error(), "key_suffix") {
		t.Errorf("jd key_suffix: %v", err)
	}
	for _, f := range []string{FormatJDCloud, FormatAliyun} {
		if _, _, err := Export(f, []Rule{{Origin: "s3://b"}}); err == nil {
			t.Errorf("%s bucket origin exported", f)
		}
		_, warn, err := Export(f, []Rule{{Name: "n", Origin: "http://h/", FollowRedirects: true}})
		if err != nil || len(warn) != 2 {
			t.Errorf("%s warnings: %v %v", f, warn, err)
		}
	}
	if _, _, err := Export("s3", nil); err == nil {
		t.Error("unknown format")
	}
}

func TestImportAliyunWebsite(t *testing.T) {
	x := `<?xml version="1.0" encoding="UTF-8"?>
<WebsiteConfiguration>
  <IndexDocument><Suffix>index.html</Suffix></IndexDocument>
  <RoutingRules>
    <RoutingRule>
      <RuleNumber>2</RuleNumber>
      <Condition><KeySuffixEquals>.png</KeySuffixEquals><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition>
      <Redirect><RedirectType>Mirror</RedirectType><PassQueryString>true</PassQueryString><MirrorURL>http://b.example.com/</MirrorURL>
        <MirrorHeaders><PassAll>true</PassAll><Remove>Host</Remove><Set><Key>X-From</Key><Value>ferry</Value></Set></MirrorHeaders></Redirect>
    </RoutingRule>
    <RoutingRule>
      <RuleNumber>1</RuleNumber>
      <Condition><KeyPrefixEquals>old/</KeyPrefixEquals></Condition>
      <Redirect><RedirectType>External</RedirectType><HostName>x.example.com</HostName></Redirect>
    </RoutingRule>
  </RoutingRules>
</WebsiteConfiguration>`
	rules, warn, err := Import(FormatAliyun, []byte(x))
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "RuleNumber 1") {
		t.Errorf("warn = %v", warn)
	}
	want := []Rule{{KeySuffix: ".png", Origin: "http://b.example.com/", PassQueryString: true, FollowRedirects: true, MirrorHead: true,
		Headers: Headers{PassAll: true, Remove: []string{"Host"}, Set: []HeaderValue{{"X-From", "ferry"}}}}}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("got %+v", rules)
	}
}

func TestImportJDVariants(t *testing.T) {
	j := `{"requestId":"x","result":{"bucketBackSourceConfiguration":{"backSourceRules":[
	  {"backSourceType":"mirror","condition":{"keyPrefixEquals":"p/","httpErrorCodeReturnedEquals":404},
	   "address":{"protocol":"https","hostName":"h.example.com:8443"},"followRedirects":false}]}}}`
	rules, _, err := Import(FormatJDCloud, []byte(j))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{{KeyPrefix: "p/", Origin: "https://h.example.com:8443/", FollowRedirects: false, MirrorHead: true}}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("got %+v", rules)
	}
	for _, bad := range []string{`{`, `{"backSourceRules":[{"address":{}}]}`, `{"backSourceRules":[{"bogus":1}]}`,
		`{"backSourceRules":[{"condition":{"httpErrorCodeReturnedEquals":403},"address":{"hostName":"h"}}]}`} {
		if _, _, err := Import(FormatJDCloud, []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if _, _, err := Import(FormatAliyun, []byte(`<Other/>`)); err == nil {
		t.Error("accepted <Other/>")
	}
}

// failoverCloudRule uses every issue-17 field the aliyun format holds.
var failoverCloudRule = Rule{
	KeyPrefix: "video/", WhenHeaders: []HeaderValue{{"X-Client", "a"}, {"Host", "old.example.com"}},
	OriginList: []Origin{{URL: "http://10.0.0.1/media/"}, {URL: "https://backup.example.com/"}},
	FailoverOn: []string{"network", "timeout", "4xx", "5xx"},
	PassStatus: []int{403, 410}, NoStore: true, FollowRedirects: true, MirrorHead: true,
}

func TestAliyunFailoverRoundTrip(t *testing.T) {
	data, warn, err := Export(FormatAliyun, []Rule{failoverCloudRule})
	if err != nil || len(warn) != 0 {
		t.Fatalf("Export: %v %v", err, warn)
	}
	for _, want := range []string{"<IncludeHeader>\n        <Key>X-Client</Key>\n        <Equals>a</Equals>\n      </IncludeHeader>",
		"<MirrorURL>http://10.0.0.1/media/</MirrorURL>", "<MirrorURLSlave>https://backup.example.com/</MirrorURLSlave>",
		"<MirrorSwitchAllErrors>true</MirrorSwitchAllErrors>", "<MirrorProxyPass>true</MirrorProxyPass>",
		"<TransparentMirrorResponseCodes>403,410</TransparentMirrorResponseCodes>"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("missing %s in\n%s", want, data)
		}
	}
	back, warn, err := Import(FormatAliyun, data)
	if err != nil || len(warn) != 0 {
		t.Fatalf("Import: %v %v\n%s", err, warn, data)
	}
	if !reflect.DeepEqual(back, []Rule{failoverCloudRule}) {
		t.Errorf("round trip:\n%s\n got %+v\nwant %+v", data, back, failoverCloudRule)
	}
	// The default policy writes no MirrorSwitchAllErrors, and reads back as
	// the default (no failover_on).
	def := failoverCloudRule
	def.FailoverOn = []string{"5xx", "timeout", "network"}
	data, _, err = Export(FormatAliyun, []Rule{def})
	if err != nil || strings.Contains(string(data), "MirrorSwitchAllErrors") {
		t.Fatalf("default policy: %v\n%s", err, data)
	}
	back, _, _ = Import(FormatAliyun, data)
	if back[0].FailoverOn != nil || len(back[0].Origins()) != 2 {
		t.Errorf("default policy read back as %+v", back[0])
	}
}

// TestExportRefusesWhatAFormatCannotHold: each field a format lacks is an
// error naming the rule and the field, never a silent drop.
func TestExportRefusesWhatAFormatCannotHold(t *testing.T) {
	two := []Origin{{URL: "http://a/"}, {URL: "http://b/"}}
	base := Rule{Origin: "http://h/", FollowRedirects: true, MirrorHead: true}
	with := func(f func(r *Rule)) []Rule {
		r := base
		f(&r)
		return []Rule{{Origin: "http://ok/", FollowRedirects: true, MirrorHead: true}, r}
	}
	tests := []struct {
		format string
		rules  []Rule
		field  string
		msg    string
	}{
		{FormatJDCloud, with(func(r *Rule) { r.Origin, r.OriginList = "", two }), "origins", "one origin per rule"},
		{FormatJDCloud, with(func(r *Rule) { r.Origin, r.OriginList = "", []Origin{{URL: "http://a/", Host: "h"}} }), "origins[1].host", "no Host per origin"},
		{FormatJDCloud, with(func(r *Rule) { r.WhenHeaders = []HeaderValue{{"X-A", "a"}} }), "when_headers", "no header condition"},
		{FormatJDCloud, with(func(r *Rule) { r.FailoverOn = []string{"5xx"} }), "failover_on", "no failover"},
		{FormatJDCloud, with(func(r *Rule) { r.PassStatus = []int{403} }), "pass_status", "cannot pass origin statuses"},
		{FormatJDCloud, with(func(r *Rule) { r.NoStore = true }), "store", "no proxy-only rules"},
		{FormatAliyun, with(func(r *Rule) { r.Origin, r.OriginList = "", append(two, Origin{URL: "http://c/"}) }), "origins", "a primary and a secondary"},
		{FormatAliyun, with(func(r *Rule) {
			r.Origin, r.OriginList = "", []Origin{{URL: "http://a/"}, {URL: "http://b/", Host: "h"}}
		}), "origins[2].host", "no Host per origin"},
		{FormatAliyun, with(func(r *Rule) { r.Origin, r.OriginList = "", []Origin{{URL: "http://a/"}, {URL: "s3://b"}} }), "origins[2].url", "only holds http(s) origins"},
		{FormatAliyun, with(func(r *Rule) { r.Origin, r.OriginList, r.FailoverOn = "", two, []string{"5xx", "404"} }), "failover_on", "MirrorSwitchAllErrors"},
		{FormatAliyun, with(func(r *Rule) { r.Origin, r.OriginList, r.FailoverOn = "", two, []string{"5xx"} }), "failover_on", "MirrorSwitchAllErrors"},
	}
	for _, tt := range tests {
		data, _, err := Export(tt.format, tt.rules)
		var e *Error
		if !errors.As(err, &e) || e.Rule != 2 || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
			t.Errorf("%s %s: err = %v (data %d bytes), want rule 2 %s ~%q", tt.format, tt.field, err, len(data), tt.field, tt.msg)
		}
	}
	// One entry under origins: is the one-origin form for both formats.
	for _, f := range []string{FormatJDCloud, FormatAliyun} {
		r := base
		r.Origin, r.OriginList = "", []Origin{{URL: "http://h/"}}
		if _, _, err := Export(f, []Rule{r}); err != nil {
			t.Errorf("%s: origins with one entry: %v", f, err)
		}
	}
}

func TestImportAliyunFailover(t *testing.T) {
	x := `<RoutingRules><RoutingRule><RuleNumber>1</RuleNumber>
  <Condition><KeyPrefixEquals>v/</KeyPrefixEquals><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals>
    <IncludeHeader><Key>x-client</Key><Equals>a</Equals></IncludeHeader></Condition>
  <Redirect><RedirectType>Mirror</RedirectType><MirrorURL>http://p.example.com/</MirrorURL>
    <MirrorURLSlave>http://s.example.com/</MirrorURLSlave><MirrorURLProbe>http://p.example.com/probe</MirrorURLProbe>
    <MirrorSwitchAllErrors>false</MirrorSwitchAllErrors><MirrorProxyPass>false</MirrorProxyPass>
    <TransparentMirrorResponseCodes> 403, 451 </TransparentMirrorResponseCodes>
    <MirrorPassOriginalSlashes>true</MirrorPassOriginalSlashes><MirrorCheckMd5>true</MirrorCheckMd5></Redirect>
</RoutingRule></RoutingRules>`
	rules, warn, err := Import(FormatAliyun, []byte(x))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{{KeyPrefix: "v/", WhenHeaders: []HeaderValue{{"x-client", "a"}},
		OriginList: []Origin{{URL: "http://p.example.com/"}, {URL: "http://s.example.com/"}},
		PassStatus: []int{403, 451}, FollowRedirects: true, MirrorHead: true}}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("got  %+v\nwant %+v", rules, want)
	}
	wantWarn := []string{"MirrorURLProbe is not used", "MirrorPassOriginalSlashes is not used", "Redirect/MirrorCheckMd5 is not supported by ferry: ignored"}
	if len(warn) != len(wantWarn) {
		t.Fatalf("warnings = %q", warn)
	}
	for i, w := range wantWarn {
		if !strings.HasPrefix(warn[i], "RuleNumber 1: ") || !strings.Contains(warn[i], w) {
			t.Errorf("warning %d = %q, want ~%q", i, warn[i], w)
		}
	}
	for _, bad := range []struct{ xml, msg string }{
		{`<RoutingRules><RoutingRule><RuleNumber>1</RuleNumber><Redirect><RedirectType>Mirror</RedirectType><MirrorURL>http://h/</MirrorURL>
		  <MirrorMultiAlternates><MirrorMultiAlternate><MirrorMultiAlternateNumber>1</MirrorMultiAlternateNumber><MirrorMultiAlternateURL>http://g/</MirrorMultiAlternateURL></MirrorMultiAlternate></MirrorMultiAlternates>
		  </Redirect></RoutingRule></RoutingRules>`, "MirrorMultiAlternates is not supported"},
		{`<RoutingRules><RoutingRule><RuleNumber>3</RuleNumber><Redirect><RedirectType>Mirror</RedirectType><MirrorURL>http://h/</MirrorURL>
		  <TransparentMirrorResponseCodes>403,4xx</TransparentMirrorResponseCodes></Redirect></RoutingRule></RoutingRules>`, `RuleNumber 3: TransparentMirrorResponseCodes: "4xx" is not a status code`},
	} {
		if _, _, err := Import(FormatAliyun, []byte(bad.xml)); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("err = %v, want ~%q", err, bad.msg)
		}
	}
	// What the format holds but ferry refuses is refused by validation.
	rules, _, err = Import(FormatAliyun, []byte(`<RoutingRules><RoutingRule><RuleNumber>1</RuleNumber><Redirect><RedirectType>Mirror</RedirectType>
	  <MirrorURL>http://h/</MirrorURL><TransparentMirrorResponseCodes>404</TransparentMirrorResponseCodes></Redirect></RoutingRule></RoutingRules>`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSet(rules); err == nil || !strings.Contains(err.Error(), "pass_status[1]: 404") {
		t.Errorf("404 passed through: %v", err)
	}
}

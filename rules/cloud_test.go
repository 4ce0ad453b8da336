package rules

import (
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

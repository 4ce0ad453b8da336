package serve

import (
	"encoding/xml"
	"net"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
)

// domainList pages through a domain-mode listing (GET /?...) of e, as S3
// clients of a virtual-hosted bucket do, and returns the keys, the common
// prefixes and the bucket name of the answers.
func domainList(t *testing.T, e *env, v2 bool, q url.Values, maxKeys int) (keys, prefixes []string, name string) {
	t.Helper()
	token := ""
	for range 100 {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("max-keys", strconv.Itoa(maxKeys))
		switch {
		case v2:
			qq.Set("list-type", "2")
			if token != "" {
				qq.Set("continuation-token", token)
			}
		case token != "":
			qq.Set("marker", token)
		}
		r := doURL(t, "GET", e.ts.URL+"/?"+qq.Encode())
		if r.status != 200 || r.header.Get("Content-Type") != "application/xml" {
			t.Fatalf("GET /?%s: %d %s", qq.Encode(), r.status, r.body)
		}
		var res struct {
			Name                  string
			IsTruncated           bool
			NextContinuationToken string
			NextMarker            string
			Contents              []struct{ Key string }
			CommonPrefixes        []struct{ Prefix string }
		}
		if err := xml.Unmarshal([]byte(r.body), &res); err != nil {
			t.Fatalf("list: %v\n%s", err, r.body)
		}
		name = res.Name
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		for _, p := range res.CommonPrefixes {
			prefixes = append(prefixes, p.Prefix)
		}
		if !res.IsTruncated {
			return keys, prefixes, name
		}
		if token = res.NextContinuationToken; !v2 {
			token = res.NextMarker
		}
		if token == "" {
			t.Fatalf("truncated page without a token: %s", r.body)
		}
	}
	t.Fatal("listing did not end after 100 pages")
	return nil, nil, ""
}

// In domain addressing GET / lists the bucket as path addressing lists
// GET /bucket/: both API versions, paging, delimiter, prefix, and the merge
// with a listable origin. The listing names serve.bucket, or the Host when
// none is set (the bucket a CNAME points at).
func TestDomainListing(t *testing.T) {
	leakCheck(t)
	target, _ := fileTarget(t)
	origin := fileOrigin(t, "b.jpg", "d/y.jpg")
	set := &rules.Set{Rules: []rules.Rule{bucketRule(origin, rules.Rule{KeySuffix: ".jpg"})}}
	e := newEnvIn(t, target, AddressingDomain, "", set)
	for _, k := range []string{"a.jpg", "d/x.jpg", "zz"} {
		e.put(k, "target "+k, nil)
	}
	all := []string{"a.jpg", "b.jpg", "d/x.jpg", "d/y.jpg", "zz"}
	hostOnly, _, err := net.SplitHostPort(e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, v2 := range []bool{true, false} {
		for _, n := range []int{1, 2, 1000} {
			keys, prefixes, name := domainList(t, e, v2, nil, n)
			if !slices.Equal(keys, all) || len(prefixes) != 0 || name != hostOnly {
				t.Errorf("v2=%v max-keys=%d: %v %v name %q, want %v name %q", v2, n, keys, prefixes, name, all, hostOnly)
			}
		}
	}
	keys, prefixes, _ := domainList(t, e, true, url.Values{"delimiter": {"/"}}, 1000)
	if !slices.Equal(keys, []string{"a.jpg", "b.jpg", "zz"}) || !slices.Equal(prefixes, []string{"d/"}) {
		t.Errorf("delimiter: %v %v", keys, prefixes)
	}
	keys, _, _ = domainList(t, e, true, url.Values{"prefix": {"d/"}}, 1)
	if !slices.Equal(keys, []string{"d/x.jpg", "d/y.jpg"}) {
		t.Errorf("prefix d/: %v", keys)
	}
	if r := doURL(t, "HEAD", e.ts.URL+"/"); r.status != 200 || r.body != "" {
		t.Errorf("HEAD /: %d %q", r.status, r.body)
	}
	if r := doURL(t, "GET", e.ts.URL+"/?list-type=2&max-keys=x"); r.status != 400 || s3Code(t, r.body) != "InvalidArgument" {
		t.Errorf("bad max-keys: %d %s", r.status, r.body)
	}

	named := newEnvIn(t, target, AddressingDomain, "site", nil)
	if keys, _, name := domainList(t, named, true, nil, 1000); !slices.Equal(keys, []string{"a.jpg", "d/x.jpg", "zz"}) || name != "site" {
		t.Errorf("with serve.bucket: %v name %q", keys, name)
	}
}

package serve

import (
	"context"
	"encoding/xml"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
)

// listing is what a client collects by paging through a listing.
type listing struct {
	keys, prefixes []string
	pages          int
}

// listAll pages through a V2 (or V1) listing of e's bucket with query q
// and pages of maxKeys, following the tokens as S3 clients do.
func listAll(t *testing.T, e *env, v2 bool, q url.Values, maxKeys int) listing {
	t.Helper()
	var l listing
	token := ""
	for l.pages = 1; l.pages < 100; l.pages++ {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("max-keys", strconv.Itoa(maxKeys))
		if v2 {
			qq.Set("list-type", "2")
			if token != "" {
				qq.Set("continuation-token", token)
			}
		} else if token != "" {
			qq.Set("marker", token)
		}
		r := doURL(t, "GET", e.ts.URL+"/"+testBucket+"?"+qq.Encode())
		if r.status != 200 {
			t.Fatalf("list %v: %d %s", qq, r.status, r.body)
		}
		var res struct {
			IsTruncated           bool
			NextContinuationToken string
			NextMarker            string
			KeyCount              int
			Contents              []struct{ Key string }
			CommonPrefixes        []struct{ Prefix string }
		}
		if err := xml.Unmarshal([]byte(r.body), &res); err != nil {
			t.Fatalf("list: %v\n%s", err, r.body)
		}
		n := len(res.Contents) + len(res.CommonPrefixes)
		if n > maxKeys || v2 && res.KeyCount != n {
			t.Fatalf("page of %d entries (KeyCount %d) for max-keys %d: %s", n, res.KeyCount, maxKeys, r.body)
		}
		for _, c := range res.Contents {
			l.keys = append(l.keys, c.Key)
		}
		for _, p := range res.CommonPrefixes {
			l.prefixes = append(l.prefixes, p.Prefix)
		}
		if !res.IsTruncated {
			return l
		}
		token = res.NextContinuationToken
		if !v2 {
			token = res.NextMarker
		}
		if token == "" {
			t.Fatalf("truncated page without a token: %s", r.body)
		}
	}
	t.Fatalf("listing did not end after %d pages", l.pages)
	return l
}

func fileOrigin(t *testing.T, keys ...string) string {
	t.Helper()
	b, dir := fileTarget(t)
	for _, k := range keys {
		if err := b.WriteAll(context.Background(), k, []byte("origin "+k), nil); err != nil {
			t.Fatal(err)
		}
	}
	return "file://" + dir
}

func bucketRule(origin string, r rules.Rule) rules.Rule {
	r.Origin, r.FollowRedirects, r.MirrorHead = origin, true, true
	return r
}

// The listing merges the target with the origins of bucket rules, in
// order, each key once, on every page size and both API versions; the rules
// decide which origin keys are listed.
func TestListMergesOrigins(t *testing.T) {
	leakCheck(t)
	target, _ := fileTarget(t)
	origin := fileOrigin(t, "a.jpg", "b.jpg", "d/y.jpg", "e.jpg", "skip.tmp", "c.jpg", "f//refused.jpg")
	photos := fileOrigin(t, "photos/1.jpg", "photos/2/3.jpg", "other/x.jpg")
	set := &rules.Set{Rules: []rules.Rule{
		bucketRule(photos, rules.Rule{KeyPrefix: "img/", ReplaceKeyPrefixWith: "photos/"}),
		bucketRule(origin, rules.Rule{KeySuffix: ".jpg"}),
		{Origin: "http://127.0.0.1:1/", KeySuffix: ".tmp", FollowRedirects: true}, // HTTP origins are not listed
	}}
	e := newEnv(t, target, AddressingPath, set)
	for _, k := range []string{"a.jpg", "c.jpg", "d/x.jpg", "img/1.jpg", "zz"} {
		e.put(k, "target "+k, nil)
	}
	all := []string{"a.jpg", "b.jpg", "c.jpg", "d/x.jpg", "d/y.jpg", "e.jpg", "img/1.jpg", "img/2/3.jpg", "zz"}
	for _, v2 := range []bool{true, false} {
		for _, n := range []int{1, 2, 3, 1000} {
			if got := listAll(t, e, v2, nil, n); !slices.Equal(got.keys, all) || len(got.prefixes) != 0 {
				t.Errorf("v2=%v max-keys=%d: %v %v, want %v", v2, n, got.keys, got.prefixes, all)
			}
		}
	}
	cases := []struct {
		q              url.Values
		keys, prefixes []string
	}{
		// A common prefix of the origin is listed without looking inside:
		// f/ holds only a key the rule refuses to fetch.
		{url.Values{"delimiter": {"/"}}, []string{"a.jpg", "b.jpg", "c.jpg", "e.jpg", "zz"}, []string{"d/", "f/", "img/"}},
		{url.Values{"prefix": {"d/"}}, []string{"d/x.jpg", "d/y.jpg"}, nil},
		{url.Values{"prefix": {"img/"}, "delimiter": {"/"}}, []string{"img/1.jpg"}, []string{"img/2/"}},
		{url.Values{"prefix": {"im"}}, []string{"img/1.jpg", "img/2/3.jpg"}, nil},
		{url.Values{"start-after": {"c.jpg"}, "prefix": {"d"}}, []string{"d/x.jpg", "d/y.jpg"}, nil},
		{url.Values{"start-after": {"d/x.jpg"}}, []string{"d/y.jpg", "e.jpg", "img/1.jpg", "img/2/3.jpg", "zz"}, nil},
	}
	for _, c := range cases {
		for _, n := range []int{1, 1000} {
			got := listAll(t, e, true, c.q, n)
			if !slices.Equal(got.keys, c.keys) || !slices.Equal(got.prefixes, c.prefixes) {
				t.Errorf("%v max-keys=%d: %v %v, want %v %v", c.q, n, got.keys, got.prefixes, c.keys, c.prefixes)
			}
		}
	}
	// A listed origin key reads through serve (a fill), and is then in the target.
	if r := e.do("GET", "img/2/3.jpg"); r.status != 200 || r.body != "origin photos/2/3.jpg" {
		t.Errorf("GET of a listed origin key: %d %q", r.status, r.body)
	}
	waitStored(t, target, "img/2/3.jpg")
	if got := listAll(t, e, true, nil, 4); !slices.Equal(got.keys, all) {
		t.Errorf("after a fill: %v", got.keys)
	}
}

// Listings without rules are the target's alone; parameters serve cannot
// take are S3 errors.
func TestListParameters(t *testing.T) {
	target, _ := fileTarget(t)
	e := newEnv(t, target, AddressingPath, nil)
	e.put("a b+c~", "x", nil)
	e.put("k", "x", nil)
	r := doURL(t, "GET", e.ts.URL+"/"+testBucket+"?list-type=2&encoding-type=url&prefix=a%20")
	if r.status != 200 || !strings.Contains(r.body, "<Key>a+b%2Bc%7E</Key>") || !strings.Contains(r.body, "<Prefix>a+</Prefix>") ||
		!strings.Contains(r.body, "<EncodingType>url</EncodingType>") {
		t.Errorf("encoding-type=url: %d %s", r.status, r.body)
	}
	r = doURL(t, "GET", e.ts.URL+"/"+testBucket+"?list-type=2&max-keys=0")
	if r.status != 200 || !strings.Contains(r.body, "<KeyCount>0</KeyCount>") || !strings.Contains(r.body, "<IsTruncated>false</IsTruncated>") {
		t.Errorf("max-keys=0: %d %s", r.status, r.body)
	}
	for _, q := range []string{"max-keys=-1", "max-keys=x", "encoding-type=base64", "list-type=2&continuation-token=bogus",
		"list-type=2&continuation-token=", "marker=" + tokenPrefix + "%21%21"} {
		r := doURL(t, "GET", e.ts.URL+"/"+testBucket+"?"+q)
		if r.status != 400 || s3Code(t, r.body) != "InvalidArgument" {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

// An origin that cannot be listed fails the listing with MirrorFailed, not
// a listing that silently lacks its keys.
func TestListOriginFailure(t *testing.T) {
	target, _ := fileTarget(t)
	set := &rules.Set{Rules: []rules.Rule{bucketRule("s3://no-such-bucket?endpoint=http://127.0.0.1:1&region=us-east-1", rules.Rule{})}}
	e := newEnv(t, target, AddressingPath, set)
	r := doURL(t, "GET", e.ts.URL+"/"+testBucket+"?list-type=2")
	if r.status != 424 || s3Code(t, r.body) != "MirrorFailed" {
		t.Errorf("unlistable origin: %d %s", r.status, r.body)
	}
}

// Listings need not be in byte order (fileblob lists "a//b" first): a key
// in both listings is listed once however the two order it, on every page
// size, and no key is left out.
func TestListOutOfOrder(t *testing.T) {
	target, _ := fileTarget(t)
	origin := fileOrigin(t, "a//b", "a b", "a.b", "a/c", "b")
	e := newEnv(t, target, AddressingPath, &rules.Set{Rules: []rules.Rule{bucketRule(origin, rules.Rule{})}})
	e.put("a//b", "x", nil)
	e.put("a.b", "x", nil)
	want := []string{"a b", "a.b", "a//b", "a/c", "b"}
	for _, v2 := range []bool{true, false} {
		for n := 1; n <= 5; n++ {
			got := listAll(t, e, v2, nil, n)
			slices.Sort(got.keys)
			if !slices.Equal(got.keys, want) {
				t.Errorf("v2=%v max-keys=%d: %v, want %v once each", v2, n, got.keys, want)
			}
		}
	}
}

// A file target whose names a directory walk orders differently from their
// keys ("site/img-old/", "site/img.png" beside "site/img/") is listed whole,
// each key once and in byte order, on every page size: fileblob's own pages
// left keys out and repeated others where a page ended between the two
// orders.
func TestListFileTargetPages(t *testing.T) {
	target, _ := fileTarget(t)
	e := newEnv(t, target, AddressingPath, &rules.Set{})
	var want []string
	for i := range 3 {
		for _, k := range []string{"site/img/%d.png", "site/img-old/%d.png", "site/css/%d.css", "site/css.d/%d"} {
			want = append(want, strings.Replace(k, "%d", strconv.Itoa(i), 1))
		}
	}
	want = append(want, "site/img.png", "site/img0", "a-b", "a/b", "a.b", "a b", "ab")
	for _, k := range want {
		e.put(k, "x", nil)
	}
	slices.Sort(want)
	for _, v2 := range []bool{true, false} {
		for n := 1; n <= 7; n++ {
			if got := listAll(t, e, v2, nil, n); !slices.Equal(got.keys, want) {
				t.Errorf("v2=%v max-keys=%d:\n got %q\nwant %q", v2, n, got.keys, want)
			}
		}
		got := listAll(t, e, v2, url.Values{"delimiter": {"/"}, "prefix": {"site/"}}, 2)
		if wantDirs := []string{"site/css.d/", "site/css/", "site/img-old/", "site/img/"}; !slices.Equal(got.prefixes, wantDirs) ||
			!slices.Equal(got.keys, []string{"site/img.png", "site/img0"}) {
			t.Errorf("v2=%v delimiter listing: keys %q, prefixes %q", v2, got.keys, got.prefixes)
		}
	}
}

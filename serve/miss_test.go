package serve

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
)

func TestMissFake(t *testing.T) {
	leakCheck(t)
	b, dir := fileTarget(t)
	set := &rules.Set{Rules: []rules.Rule{
		{KeyPrefix: "nohead/", Origin: "http://o.invalid/", FollowRedirects: true, MirrorHead: false},
		{KeyPrefix: "m/", Origin: "http://o.invalid/", FollowRedirects: true, MirrorHead: true},
	}}
	e := newEnv(t, b, dir, AddressingDomain, set)
	lm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	meta := mirror.Meta{Size: 100, ContentType: "image/png", ETag: `"abc"`, LastModified: lm, CacheControl: "public", Expires: "Thu, 01 Jan 2037 00:00:00 GMT"}
	e.fill.objects["m/a.png"] = fakeObject{meta: meta, data: []byte(hundred)}
	e.fill.objects["nohead/a"] = fakeObject{meta: meta, data: []byte(hundred)}
	chunked := meta
	chunked.Size = -1
	e.fill.objects["m/chunked"] = fakeObject{meta: chunked, data: []byte(hundred)}
	e.fill.objects["m/broken"] = fakeObject{meta: meta, data: []byte(hundred), failAt: 40}
	e.fill.errs["m/redirect"] = &mirror.RedirectError{Status: 302, Location: "http://elsewhere.example/x"}
	e.fill.errs["m/failed"] = &mirror.FailedError{Status: 503, Reason: "status"}
	e.fill.errs["m/refused"] = &mirror.FailedError{Reason: "refused_key", Err: rules.ErrKeyRefused}

	r := e.do("GET", "m/a.png", "Authorization", "secret", "Cookie", "c=1")
	if r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" ||
		r.header.Get("Content-Type") != "image/png" || r.header.Get("ETag") != `"abc"` ||
		r.header.Get("Last-Modified") != lm.Format(http.TimeFormat) || r.header.Get("Content-Length") != "100" {
		t.Errorf("fill: %d %v", r.status, r.header)
	}
	// The client's headers go to the mirror as given; the rule's policy
	// (in rules.OriginRequest) decides what reaches the origin.
	if h := e.fill.reqs[0].Header; h.Get("Authorization") != "secret" || h.Get("Cookie") != "c=1" {
		t.Errorf("client headers not passed as given: %v", h)
	}
	if e.fill.reqs[0].RuleIndex != 1 || e.fill.reqs[0].Rule.KeyPrefix != "m/" {
		t.Errorf("rule %d %+v", e.fill.reqs[0].RuleIndex, e.fill.reqs[0].Rule)
	}

	r = e.do("GET", "m/a.png", "Range", "bytes=-10")
	if r.status != 206 || r.body != hundred[90:] || r.header.Get("Content-Range") != "bytes 90-99/100" {
		t.Errorf("range on a fill: %d %q %v", r.status, r.body, r.header)
	}
	if r := e.do("GET", "m/a.png", "If-None-Match", `"abc"`); r.status != 304 {
		t.Errorf("If-None-Match on a fill: %d", r.status)
	}
	if r := e.do("GET", "m/a.png", "If-Match", `"zzz"`); r.status != 412 {
		t.Errorf("If-Match on a fill: %d", r.status)
	}
	r = e.do("GET", "m/chunked")
	if r.status != 200 || r.body != hundred || r.header.Get("Content-Length") != "" {
		t.Errorf("chunked fill: %d %q %v", r.status, r.body, r.header)
	}
	if r := e.do("GET", "m/chunked", "Range", "bytes=0-9"); r.status != 200 || r.body != hundred {
		t.Errorf("range on a fill of unknown size is ignored: %d", r.status)
	}

	r = e.do("HEAD", "m/a.png")
	if r.status != 200 || r.header.Get("X-Ferry-Mirror") != "origin" || r.header.Get("Content-Length") != "100" {
		t.Errorf("mirror_head: %d %v", r.status, r.header)
	}
	heads := e.fill.heads.Load()
	if r := e.do("HEAD", "nohead/a"); r.status != 404 || e.fill.heads.Load() != heads {
		t.Errorf("mirror_head false: %d, origin heads %d", r.status, e.fill.heads.Load()-heads)
	}

	if r := e.do("GET", "m/nothere"); r.status != 404 || s3Code(t, r.body) != "NoSuchKey" || r.header.Get("X-Ferry-Mirror") != "not_found" {
		t.Errorf("origin 404: %d %s", r.status, r.body)
	}
	gets := e.fill.gets.Load()
	if r := e.do("GET", "other/x"); r.status != 404 || e.fill.gets.Load() != gets {
		t.Errorf("no rule: %d, fills %d", r.status, e.fill.gets.Load()-gets)
	}
	if r := e.do("GET", "m/failed"); r.status != 424 || s3Code(t, r.body) != "MirrorFailed" {
		t.Errorf("failed: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "m/refused"); r.status != 400 {
		t.Errorf("refused key: %d %s", r.status, r.body)
	}

	// Redirects pass through (the client does not follow them here).
	req, _ := http.NewRequest("GET", e.url("m/redirect"), nil)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "http://elsewhere.example/x" {
		t.Errorf("redirect: %d %v", resp.StatusCode, resp.Header)
	}

	// A fill that fails after the headers were sent is a broken transfer,
	// never a clean short 200.
	resp, err = http.Get(e.url("m/broken"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("broken fill: status %d, read error %v (want unexpected EOF)", resp.StatusCode, err)
	}
}

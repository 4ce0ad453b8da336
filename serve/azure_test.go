package serve

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/azuritetest"
	"github.com/ferry-migrate/ferry/internal/reqlog"
	"github.com/ferry-migrate/ferry/store"
)

// azureTarget opens a fresh container of the shared Azurite, reached at
// addr (Azurite itself when ""; a proxy in front of it otherwise).
func azureTarget(t *testing.T, addr string) (*store.Bucket, string) {
	t.Helper()
	s := azuritetest.Get(t)
	name := s.NewContainer(t)
	if addr == "" {
		addr = s.Addr
	}
	b, err := store.Open(context.Background(), azuritetest.URLAt(addr, name, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, name
}

func TestConformanceAzure(t *testing.T) {
	for _, mode := range []string{AddressingDomain, AddressingPath} {
		t.Run(mode, func(t *testing.T) {
			b, _ := azureTarget(t, "")
			conformance(t, newEnv(t, b, mode, nil))
		})
	}
}

// TestOneRequestPerAnswerAzure counts the requests that reach Azurite
// through serve: a GET hit (whole, ranged, open-ended, conditional, part 1)
// is one Get Blob, a HEAD one Get Blob Properties, a miss the one GET (or
// HEAD) whose 404 starts it. A suffix range costs a HEAD and a GET: Azure
// takes no suffix range, so the size comes first. Headers and bytes are
// the stored ones (user metadata as x-amz-meta-*, a gzip body as stored).
func TestOneRequestPerAnswerAzure(t *testing.T) {
	leakCheck(t)
	s := azuritetest.Get(t)
	p := reqlog.New(t, "http://"+s.Addr)
	target, name := azureTarget(t, strings.TrimPrefix(p.URL, "http://"))
	o := newTestOrigin(t)
	o.set("fill", hundred)
	e := newEnv(t, target, AddressingDomain, originRules(o.URL))
	obj := func(key string) string { return "/" + azuritetest.Account + "/" + name + "/" + key }
	oneRequestPerAnswer(t, e, "Azurite", p.Take,
		func(key string) string { return "GET " + obj(key) }, func(key string) string { return "HEAD " + obj(key) })

	// A fill: the GET's 404 starts it, the commit writes the blob (the
	// SDK's upload), and the next GET is a hit of one request.
	if r := e.do("GET", "fill"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Fatalf("fill: %d %v", r.status, r.header)
	}
	p.WaitFor(t, "PUT "+obj("fill"))
	if got := p.Take(); !slices.Equal(got, []string{"GET " + obj("fill"), "PUT " + obj("fill")}) {
		t.Errorf("fill: Azurite saw %q, want the GET and the upload's PUT", got)
	}
	waitStored(t, target, "fill") // the PUT was seen, now it is committed
	p.Take()
	if r := e.do("GET", "fill"); r.status != 200 || r.body != hundred || r.header.Get("X-Ferry-Mirror") != "hit" {
		t.Errorf("hit after fill: %d %v", r.status, r.header)
	}
	if got := p.Take(); !slices.Equal(got, []string{"GET " + obj("fill")}) {
		t.Errorf("hit after fill: Azurite saw %q", got)
	}
	if n := o.count.Load(); n != 3 {
		t.Errorf("%d origin requests, want 3 (a HEAD, a 404 and a fill)", n)
	}
}

// A target container that is gone answers NoSuchBucket (404), on GET and
// HEAD, not a miss.
func TestAzureContainerGone(t *testing.T) {
	s := azuritetest.Get(t)
	name := s.NewContainer(t)
	s.DeleteContainer(t, name)
	b, err := store.OpenWith(context.Background(), s.URL(name, ""), store.Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bucketGone(t, b)
}

// bucketGone checks that serve in front of b, whose bucket (or container)
// is gone, answers GET and HEAD with 404 NoSuchBucket and never asks the
// origin.
func bucketGone(t *testing.T, b *store.Bucket) {
	t.Helper()
	o := newTestOrigin(t)
	o.set("k", "origin")
	e := newEnv(t, b, AddressingDomain, originRules(o.URL))
	if r := e.do("GET", "k"); r.status != 404 || s3Code(t, r.body) != "NoSuchBucket" {
		t.Errorf("GET: %d %s", r.status, r.body)
	}
	if r := e.do("HEAD", "k"); r.status != 404 || r.header.Get("X-Ferry-Mirror") == "fill" {
		t.Errorf("HEAD: %d %v", r.status, r.header)
	}
	if n := o.count.Load(); n != 0 {
		t.Errorf("%d origin requests for a gone bucket, want 0", n)
	}
}

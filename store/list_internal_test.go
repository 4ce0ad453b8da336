package store

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
)

func testLister(t testing.TB, endpoint, prefix string) *Lister {
	t.Helper()
	base, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return newLister(&DirectPutter{client: http.DefaultClient, base: base, bucket: "bkt", prefix: prefix, pathStyle: true})
}

func TestListParse(t *testing.T) {
	l := &Lister{d: &DirectPutter{prefix: "pre/"}, escPrefix: "pre/"}
	body := `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name><Prefix>pre/</Prefix><KeyCount>4</KeyCount><MaxKeys>4</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>tok+/=</NextContinuationToken>
  <Contents>
    <Key>pre/a%20b+c%2Bd%0D%0A</Key>
    <LastModified>2024-05-06T07:08:09.123Z</LastModified>
    <ETag>&quot;0123456789abcdef0123456789ABCDEF&quot;</ETag>
    <Size>42</Size>
    <Owner><ID>x</ID><DisplayName>y</DisplayName></Owner>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents><Key>pre/nl__0xa__x</Key><LastModified>2024-05-06T07:08:09Z</LastModified><ETag>"abc-2"</ETag><Size>0</Size></Contents>
  <Contents><Key><![CDATA[pre/cd]]>ata</Key><LastModified>2024-05-06T07:08:09Z</LastModified><ETag>&#34;&#34;</ETag><Size>7</Size></Contents>
  <Contents><Key>pre/amp%26</Key><LastModified>2024-05-06T07:08:09Z</LastModified><Size>1</Size></Contents>
  <CommonPrefixes><Prefix>pre/dir%2F</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>pre/x__0x41__%2F</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix/></CommonPrefixes>
  <EncodingType>url</EncodingType>
</ListBucketResult>`
	var p ListPage
	if err := l.parse([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)
	want := []string{
		fmt.Sprintf("%q %q 42 %q %x %v", "a b c+d\r\n", "a b c+d\r\n", `"0123456789abcdef0123456789ABCDEF"`, []byte("\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef"), mod),
		fmt.Sprintf("%q %q 0 %q %x %v", "nl\nx", "nl__0xa__x", `"abc-2"`, []byte(nil), mod.Truncate(time.Second)),
		fmt.Sprintf("%q %q 7 %q %x %v", "cdata", "cdata", `""`, []byte{}, mod.Truncate(time.Second)),
		fmt.Sprintf("%q %q 1 %q %x %v", "amp&", "amp&", "", []byte(nil), mod.Truncate(time.Second)),
	}
	if len(p.Objects) != len(want) {
		t.Fatalf("%d objects, want %d: %+v", len(p.Objects), len(want), p.Objects)
	}
	for i, o := range p.Objects {
		if got := fmt.Sprintf("%q %q %d %q %x %v", o.Key, o.Name, o.Size, o.ETag, o.MD5, o.ModTime); got != want[i] {
			t.Errorf("object %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
	if fmt.Sprintf("%q %q", p.Prefixes, p.PrefixNames) != `["dir/" "xA/" ""] ["dir/" "x__0x41__/" ""]` || p.Next != "tok+/=" {
		t.Errorf("prefixes %q (names %q), next %q", p.Prefixes, p.PrefixNames, p.Next)
	}
	// Without EncodingType the names are taken as they stand.
	if err := l.parse([]byte(strings.Replace(body, "<EncodingType>url</EncodingType>", "", 1)), &p); err != nil {
		t.Fatal(err)
	}
	if p.Objects[0].Key != "a%20b+c%2Bd%0D%0A" {
		t.Errorf("not url-encoded: key %q", p.Objects[0].Key)
	}
}

func TestListParseErrors(t *testing.T) {
	l := &Lister{d: &DirectPutter{}}
	ok := `<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>`
	var p ListPage
	if err := l.parse([]byte(ok), &p); err != nil || len(p.Objects) != 1 {
		t.Fatalf("minimal listing: %v %+v", err, p)
	}
	prefixed := `<s3:ListBucketResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Contents><s3:Key>k</s3:Key><s3:Size>3</s3:Size></s3:Contents></s3:ListBucketResult>`
	if err := l.parse([]byte(prefixed), &p); err != nil || len(p.Objects) != 1 || p.Objects[0].Key != "k" || p.Objects[0].Size != 3 {
		t.Fatalf("listing with a namespace prefix: %v %+v", err, p)
	}
	for _, c := range []struct{ body, want string }{
		{``, "no XML document"},
		{`<ListBucketResult><Contents><Key>k</Key></Content></ListBucketResult>`, "unexpected </Content>"},
		{`<ListBucketResult><Contents><Key>k</Key>`, "XML ends inside <Contents>"},
		{`<ListBucketResult xmlns:a="x" xmlns:b="x"><Contents><a:Key>k</b:Key></Contents></ListBucketResult>`, "unexpected </b:Key>"},
		{`<ListAllMyBucketsResult></ListAllMyBucketsResult>`, "want <ListBucketResult>"},
		{`<!DOCTYPE x [<!ENTITY a "b">]><ListBucketResult/>`, "DOCTYPE"},
		{`<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>`, `<Size>-1</Size> of key "k"`},
		{`<ListBucketResult><Contents><Key>a&bogus;</Key></Contents></ListBucketResult>`, "unknown reference &bogus;"},
		{`<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>`, "<Contents> without <Key>"},
		{`<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>`, "without a NextContinuationToken"},
		{`<ListBucketResult><Contents><Key>k</Key><LastModified>yesterday</LastModified></Contents></ListBucketResult>`, `<LastModified> of key "k"`},
		{`<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%zz</Key></Contents></ListBucketResult>`, `key "%zz" is not url-encoded`},
		{`<ListBucketResult></ListBucketResult><ListBucketResult/>`, "second root"},
		{`<ListBucketResult><Key attr="a>b`, "unterminated <Key"},
	} {
		err := l.parse([]byte(c.body), &p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.body, err, c.want)
		}
	}
	err := l.parse([]byte(`<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>reduce</Message></Error>`), &p)
	if se, ok := err.(*S3Error); !ok || se.Code != "SlowDown" || se.Message != "reduce" {
		t.Errorf("error document: %v", err)
	}
}

// The request: path or virtual-hosted style, url-encoded names asked for,
// the bucket's prefix and the options escaped as s3blob escapes them, and
// start-after only without a continuation token.
func TestListURL(t *testing.T) {
	d := &DirectPutter{bucket: "bkt", prefix: "pre/", pathStyle: true}
	d.base = mustURL(t, "http://127.0.0.1:9000")
	l := newLister(d)
	got := l.listURL("", &ListOptions{Prefix: "a b/\n", Delimiter: "/", StartAfter: "a b/x", MaxKeys: 10})
	want := "http://127.0.0.1:9000/bkt?delimiter=%2F&encoding-type=url&list-type=2&max-keys=10&prefix=pre%2Fa+b%2F__0xa__&start-after=pre%2Fa+b%2Fx"
	if got != want {
		t.Errorf("listURL:\n got %s\nwant %s", got, want)
	}
	d.pathStyle = false
	got = l.listURL("t/k+n", &ListOptions{StartAfter: "ignored"})
	want = "http://bkt.127.0.0.1:9000/?continuation-token=t%2Fk%2Bn&encoding-type=url&list-type=2&prefix=pre%2F"
	if got != want {
		t.Errorf("listURL:\n got %s\nwant %s", got, want)
	}
}

// S3Name and hexUnescape are gocloud's escaping, round trip included.
func TestS3NameRoundTrip(t *testing.T) {
	for key, want := range map[string]string{
		"plain/a.b": "plain/a.b", "nl\nx": "nl__0xa__x", "up/../x": "up/..__0x2f__x", "a__0x41__b": "a__0x5f___0x41__b",
		"a__0xzz__b": "a__0xzz__b", "日本/😀": "日本/😀", "x\x7f": "x\x7f",
	} {
		if got := S3Name(key); got != want {
			t.Errorf("S3Name(%q) = %q, want %q", key, got, want)
		}
		if got := hexUnescape(S3Name(key)); got != key {
			t.Errorf("hexUnescape(S3Name(%q)) = %q", key, got)
		}
	}
}

// listBody is a page of n keys as MinIO writes it.
func listBody(n int) []byte {
	type obj struct {
		Key          string
		LastModified string
		ETag         string
		Size         int64
		StorageClass string
	}
	type result struct {
		XMLName               xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
		Name, Prefix          string
		KeyCount, MaxKeys     int
		IsTruncated           bool
		NextContinuationToken string
		Contents              []obj
		EncodingType          string
	}
	r := result{Name: "bkt", KeyCount: n, MaxKeys: n, IsTruncated: true, NextContinuationToken: "next", EncodingType: "url"}
	for i := range n {
		r.Contents = append(r.Contents, obj{Key: strings.ReplaceAll(url.QueryEscape(fmt.Sprintf("t%02d/m%03d/f%08d.bin", i/100, i/10, i)), "%2F", "/"),
			LastModified: "2024-01-01T00:00:00.000Z", ETag: `"0123456789abcdef0123456789abcdef"`, Size: int64(100 + i), StorageClass: "STANDARD"})
	}
	b, err := xml.Marshal(r)
	if err != nil {
		panic(err)
	}
	return append([]byte(xml.Header), b...)
}

func BenchmarkListParse(b *testing.B) {
	body := listBody(1000)
	l := &Lister{d: &DirectPutter{}}
	var p ListPage
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := l.parse(body, &p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/key")
}

// BenchmarkListPage compares one page of 1,000 keys from a local endpoint
// through the Lister and through the bucket's ListPage (the SDK and
// gocloud), request and response included.
func BenchmarkListPage(b *testing.B) {
	body := listBody(1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Write(body)
	}))
	defer srv.Close()
	ctx := context.Background()
	b.Run("lister", func(b *testing.B) {
		l := testLister(b, srv.URL, "")
		var p ListPage
		b.ReportAllocs()
		for b.Loop() {
			if err := l.List(ctx, "", &ListOptions{}, &p); err != nil || len(p.Objects) != 1000 {
				b.Fatal(err, len(p.Objects))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/key")
	})
	b.Run("sdk", func(b *testing.B) {
		bk, err := OpenWith(ctx, "s3://bkt?anonymous=true&endpoint="+srv.URL, Options{SkipCheck: true})
		if err != nil {
			b.Fatal(err)
		}
		defer bk.Close()
		b.ReportAllocs()
		for b.Loop() {
			objs, _, err := bk.ListPage(ctx, blob.FirstPageToken, 1000, nil)
			if err != nil || len(objs) != 1000 {
				b.Fatal(err, len(objs))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/key")
	})
}

// TestListFastPath checks that Contents elements laid out as S3 writes them
// (read by fastContents) come out exactly as the same elements read by the
// general scanner (which reads an element with whitespace at its start),
// and that what the fast path does not read it leaves to the scanner.
func TestListFastPath(t *testing.T) {
	contents := []string{
		`<Contents><Key>a%20b</Key><LastModified>2024-05-06T07:08:09.123Z</LastModified><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>`,
		`<Contents><Key>amp%26&amp;x</Key><ETag>&#34;abc-2&#34;</ETag><Size>0</Size><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm></Contents>`,
		`<Contents><Key>q</Key><ETag>"0123456789abcdef0123456789abcdef"</ETag><Size>7</Size></Contents>`,
		`<Contents><Key>own</Key><Size>1</Size><Owner><ID>x</ID></Owner></Contents>`,                      // nested: the scanner
		`<Contents><Key><![CDATA[cd]]></Key><Size>2</Size></Contents>`,                                    // CDATA: the scanner
		`<Contents><Key a="1">attr</Key><Size>3</Size></Contents>`,                                        // attribute: the scanner
		`<Contents><s3:Key xmlns:s3="x">ns</s3:Key><Size>4</Size></Contents>`,                             // prefix: the scanner
		`<Contents><Key>cr&#13;lf&#xD;</Key><LastModified>2024-05-06T07:08:10Z</LastModified></Contents>`, // a referenced CR stays

	}
	l := &Lister{d: &DirectPutter{}}
	page := func(lead string) []string {
		var b strings.Builder
		b.WriteString(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>`)
		for _, c := range contents {
			b.WriteString(strings.Replace(c, "<Contents>", "<Contents>"+lead, 1))
		}
		b.WriteString(`<EncodingType>url</EncodingType></ListBucketResult>`)
		var p ListPage
		if err := l.parse([]byte(b.String()), &p); err != nil {
			t.Fatalf("lead %q: %v", lead, err)
		}
		var got []string
		for _, o := range p.Objects {
			got = append(got, fmt.Sprintf("%q %q %d %q %x %v", o.Key, o.Name, o.Size, o.ETag, o.MD5, o.ModTime))
		}
		return got
	}
	fast, general := page(""), page("\n  ")
	if len(fast) != len(contents) {
		t.Fatalf("%d objects, want %d: %q", len(fast), len(contents), fast)
	}
	for i := range fast {
		if fast[i] != general[i] {
			t.Errorf("object %d:\n  fast    %s\n  general %s", i, fast[i], general[i])
		}
	}
	for i, want := range []string{`"a b"`, `"amp&&x"`, `"q"`, `"own"`, `"cd"`, `"attr"`, `"ns"`, `"cr\rlf\r"`} {
		if !strings.HasPrefix(fast[i], want+" ") {
			t.Errorf("object %d: %s, want the key %s", i, fast[i], want)
		}
	}
	// What the fast path refuses, the scanner refuses with its own words.
	for _, c := range []struct{ body, want string }{
		{`<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents></ListBucketResult>`, `<Size>x</Size> of key "k"`},
		{`<ListBucketResult><Contents><Key>k</Key><Size>1</Sise></Contents></ListBucketResult>`, "unexpected </Sise>"},
		{`<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>`, "<Contents> without <Key>"},
		{`<ListBucketResult><Contents><Key>k</Key>`, "XML ends inside <Contents>"},
	} {
		var p ListPage
		if err := l.parse([]byte(c.body), &p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.body, err, c.want)
		}
	}
}

// FuzzListScan compares the scanner with and without fastContents: the
// same entries, or an error from both.
func FuzzListScan(f *testing.F) {
	f.Add([]byte(`<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>`))
	f.Add([]byte(`<ListBucketResult><Contents><Key>a&amp;b</Key><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag><Size>2</Size></Contents><Contents><Key>x</Key><Owner><ID>i</ID></Owner></Contents></ListBucketResult>`))
	f.Add([]byte(`<ListBucketResult><Contents><Key><![CDATA[c]]></Key><LastModified>2024-05-06T07:08:09Z</LastModified></Contents><Contents><Key>y</Key><Size>x</Size></Contents></ListBucketResult>`))
	f.Add(listBody(3))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, slow := listResult{}, listResult{slow: true}
		errFast, errSlow := fast.scan(body), slow.scan(body)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("fast path error %v, scanner error %v", errFast, errSlow)
		}
		if errFast != nil {
			return
		}
		if len(fast.objs) != len(slow.objs) {
			t.Fatalf("fast path %d entries, scanner %d", len(fast.objs), len(slow.objs))
		}
		for i, a := range fast.objs {
			b := slow.objs[i]
			if !bytes.Equal(a.name, b.name) || !bytes.Equal(a.etag, b.etag) || a.quoted != b.quoted || a.size != b.size || !a.mod.Equal(b.mod) || a.hasKey != b.hasKey {
				t.Fatalf("entry %d: fast path %+v, scanner %+v", i, a, b)
			}
		}
	})
}

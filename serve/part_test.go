package serve

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/internal/reqlog"
	"github.com/ferry-migrate/ferry/store"
)

// partBytes returns n bytes that differ from part to part.
func partBytes(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*17 + i%251)
	}
	return b
}

// s3Error is an error body as the partNumber tests read it.
type s3Error struct {
	Code, Message, Key, RequestId string
	ArgumentName, ArgumentValue   string
}

// wantError checks that r is the S3 error code with status, its body (GET)
// carrying the response's request id; it returns the body.
func wantError(t *testing.T, what string, r result, method string, status int, code string) s3Error {
	t.Helper()
	var x s3Error
	if r.status != status {
		t.Errorf("%s: status %d, want %d (%s)", what, r.status, status, r.body)
		return x
	}
	if method == "HEAD" {
		if r.body != "" {
			t.Errorf("%s: HEAD with a body %q", what, r.body)
		}
		return x
	}
	if err := xml.Unmarshal([]byte(r.body), &x); err != nil {
		t.Errorf("%s: not an S3 XML error: %v: %q", what, err, r.body)
		return x
	}
	if x.Code != code || x.RequestId == "" || x.RequestId != r.header.Get("X-Amz-Request-Id") {
		t.Errorf("%s: %+v, request id header %q, want code %s", what, x, r.header.Get("X-Amz-Request-Id"), code)
	}
	return x
}

// On an S3 target, GET and HEAD with partNumber answer what MinIO itself
// answers: a part of a real multipart object as a 206 with its
// Content-Range, Content-Length and x-amz-mp-parts-count; part 1 of a
// single-part object as a 206 of the whole; a part beyond the object's as
// 416 InvalidPartNumber; partNumber with a Range as 400 InvalidRequest.
func TestPartNumberMatchesMinIO(t *testing.T) {
	leakCheck(t)
	s := newSurface(t, nil)
	const mib = 1 << 20
	parts := [][]byte{partBytes(5*mib, 1), partBytes(5*mib, 2), partBytes(1000, 3)}
	miniotest.Get(t).PutMultipart(t, s.bucket, "mp.bin", parts...)
	s.put("single.txt", hundred, nil)
	s.put("empty", "", nil)

	var off int
	for i, p := range parts {
		q := "partNumber=" + strconv.Itoa(i+1)
		g := s.same("GET", "mp.bin", q)
		want := fmt.Sprintf("bytes %d-%d/%d", off, off+len(p)-1, 10*mib+1000)
		if g.Status != 206 || g.Body != string(p) || g.Headers["Content-Range"] != want ||
			g.Headers["Content-Length"] != strconv.Itoa(len(p)) || g.Headers["X-Amz-Mp-Parts-Count"] != "3" {
			t.Errorf("GET part %d: %d %v (%d bytes), want Content-Range %s", i+1, g.Status, g.Headers, len(g.Body), want)
		}
		if h := s.same("HEAD", "mp.bin", q); h.Status != 206 || h.Headers["Content-Range"] != want || h.Headers["X-Amz-Mp-Parts-Count"] != "3" {
			t.Errorf("HEAD part %d: %d %v", i+1, h.Status, h.Headers)
		}
		off += len(p)
	}
	s.same("GET", "mp.bin", "partNumber=4")
	s.same("HEAD", "mp.bin", "partNumber=4")
	s.same("GET", "mp.bin", "partNumber=2", "If-None-Match", s.same("HEAD", "mp.bin", "").Headers["ETag"])
	s.same("GET", "mp.bin", "partNumber=2", "If-Match", `"other"`)
	s.same("GET", "mp.bin", "partNumber=2&response-content-type=text/x-part")

	if g := s.same("GET", "single.txt", "partNumber=1"); g.Status != 206 || g.Body != hundred ||
		g.Headers["Content-Range"] != "bytes 0-99/100" || g.Headers["X-Amz-Mp-Parts-Count"] != "" {
		t.Errorf("single-part object, part 1: %+v", g)
	}
	s.same("HEAD", "single.txt", "partNumber=1")
	s.same("GET", "single.txt", "partNumber=2")
	s.same("HEAD", "single.txt", "partNumber=2")
	for _, method := range []string{"GET", "HEAD"} {
		for _, key := range []string{"single.txt", "mp.bin", "missing"} {
			s.same(method, key, "partNumber=1", "Range", "bytes=0-9")
		}
		s.same(method, "missing", "partNumber=1")
		s.same(method, "missing", "partNumber=2")
		// MinIO answers 206 without a Content-Range here; serve 200 (an
		// empty object has no range to name), as versitygw expects of S3.
		e := doURL(t, method, s.serve+"/"+s.bucket+"/empty?partNumber=1")
		if e.status != 200 || e.body != "" || e.header.Get("Content-Range") != "" || e.header.Get("Content-Length") != "0" {
			t.Errorf("%s empty object, part 1: %d %v", method, e.status, e.header)
		}
	}
	// An invalid part number, on a key that exists or not: InvalidArgument
	// in S3's words (MinIO's differ: XMinioAdminInvalidArgument for 0).
	for _, v := range []string{"0", "-3", "10001", "abc", "", "1.5"} {
		for _, key := range []string{"mp.bin", "missing"} {
			for _, method := range []string{"GET", "HEAD"} {
				r := doURL(t, method, s.serve+"/"+s.bucket+"/"+key+"?partNumber="+v)
				x := wantError(t, method+" "+key+" partNumber="+v, r, method, 400, "InvalidArgument")
				if method == "GET" && (x.ArgumentName != "partNumber" || x.ArgumentValue != v || x.Message != "Part number must be an integer between 1 and 10000, inclusive.") {
					t.Errorf("partNumber=%s: %+v", v, x)
				}
			}
		}
	}
	for _, method := range []string{"GET", "HEAD"} {
		r := doURL(t, method, s.serve+"/"+s.bucket+"/mp.bin?partNumber=9", "Range", "bytes=0-1")
		wantError(t, method+" Range and partNumber", r, method, 400, "InvalidRequest")
		r = doURL(t, method, s.serve+"/"+s.bucket+"/mp.bin?partNumber=9")
		if x := wantError(t, method+" part 9", r, method, 416, "InvalidPartNumber"); method == "GET" && x.Key != "mp.bin" {
			t.Errorf("InvalidPartNumber: %+v", x)
		}
		if r.header.Get("X-Ferry-Mirror") != "hit" || r.header.Get("Content-Range") != "" {
			t.Errorf("%s part 9: %v", method, r.header)
		}
	}
}

// A part is one request to the target, GET or HEAD, on the direct path and
// the SDK's; an invalid partNumber reaches neither the target nor the
// origin.
func TestPartNumberOneRequest(t *testing.T) {
	leakCheck(t)
	s := miniotest.Get(t)
	name := s.NewBucket(t)
	p := reqlog.New(t, s.Endpoint)
	s.PutMultipart(t, name, "mp", partBytes(5<<20, 1), partBytes(10, 2))
	o := newTestOrigin(t)
	for _, path := range []string{"direct", "sdk"} {
		t.Run(path, func(t *testing.T) {
			target := openPath(t, name, p.URL, path)
			e := newEnv(t, target, AddressingDomain, originRules(o.URL))
			obj := "/" + name + "/mp"
			p.Take()
			for _, c := range []struct {
				method, query string
				status        int
				want          []string
			}{
				{"GET", "partNumber=2", 206, []string{"GET " + obj}},
				{"HEAD", "partNumber=2", 206, []string{"HEAD " + obj}},
				{"GET", "partNumber=1", 206, []string{"GET " + obj}},
				{"GET", "partNumber=3", 416, []string{"GET " + obj}},
				{"HEAD", "partNumber=3", 416, []string{"HEAD " + obj}},
				{"GET", "partNumber=0", 400, nil},
				{"HEAD", "partNumber=x", 400, nil},
			} {
				r := doURL(t, c.method, e.url("mp")+"?"+c.query)
				if r.status != c.status {
					t.Errorf("%s %s: %d, want %d", c.method, c.query, r.status, c.status)
				}
				if c.status == 206 && c.query == "partNumber=2" && (r.header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", 5<<20, 5<<20+9, 5<<20+10) ||
					r.header.Get("X-Amz-Mp-Parts-Count") != "2" || r.header.Get("Content-Length") != "10") {
					t.Errorf("%s %s: %v", c.method, c.query, r.header)
				}
				if got := p.Take(); !slices.Equal(got, c.want) {
					t.Errorf("%s %s: target saw %q, want %q", c.method, c.query, got, c.want)
				}
			}
			if n := o.count.Load(); n != 0 {
				t.Errorf("%d origin requests", n)
			}
		})
	}
}

// Targets without parts (a directory, with and without its file fast
// path, and memblob) keep each object in one piece: part 1 is the whole
// object as a 206 with Content-Range (an empty object 200), any other
// part 416 InvalidPartNumber; conditions hold as on any hit.
func TestPartNumberOnePiece(t *testing.T) {
	leakCheck(t)
	file, _ := fileTarget(t)
	mem, err := store.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	big := strings.Repeat(hundred, 2000) // past the small-body buffer: sendfile
	for _, tc := range []struct {
		name   string
		target *store.Bucket
	}{{"file", file}, {"file-no-fast-path", store.Wrap(file.Bucket)}, {"mem", mem}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.target, AddressingPath, nil)
			e.put("k.txt", hundred, nil)
			e.put("big", big, nil)
			e.put("empty", "", nil)
			for _, c := range []struct{ key, body string }{{"k.txt", hundred}, {"big", big}} {
				for _, method := range []string{"GET", "HEAD"} {
					r := doURL(t, method, e.url(c.key)+"?partNumber=1")
					cr := fmt.Sprintf("bytes 0-%d/%d", len(c.body)-1, len(c.body))
					if r.status != 206 || r.header.Get("Content-Range") != cr || r.header.Get("Content-Length") != strconv.Itoa(len(c.body)) ||
						r.header.Get("X-Amz-Mp-Parts-Count") != "" || r.header.Get("X-Ferry-Mirror") != "hit" {
						t.Errorf("%s %s part 1: %d %v", method, c.key, r.status, r.header)
					}
					if method == "GET" && r.body != c.body {
						t.Errorf("GET %s part 1: %d bytes, want %d", c.key, len(r.body), len(c.body))
					}
					r = doURL(t, method, e.url(c.key)+"?partNumber=2")
					wantError(t, method+" "+c.key+" part 2", r, method, 416, "InvalidPartNumber")
				}
			}
			if r := doURL(t, "GET", e.url("empty")+"?partNumber=1"); r.status != 200 || r.body != "" || r.header.Get("Content-Range") != "" {
				t.Errorf("empty part 1: %d %v", r.status, r.header)
			}
			etag := e.do("HEAD", "k.txt").header.Get("ETag")
			if r := doURL(t, "GET", e.url("k.txt")+"?partNumber=1", "If-None-Match", etag); r.status != 304 {
				t.Errorf("part 1 If-None-Match: %d", r.status)
			}
			if r := doURL(t, "GET", e.url("k.txt")+"?partNumber=1", "If-Match", `"other"`); r.status != 412 {
				t.Errorf("part 1 If-Match: %d", r.status)
			}
			wantError(t, "Range and partNumber", doURL(t, "GET", e.url("k.txt")+"?partNumber=1", "Range", "bytes=0-1"), "GET", 400, "InvalidRequest")
			wantError(t, "missing", doURL(t, "GET", e.url("none")+"?partNumber=1"), "GET", 404, "NoSuchKey")
		})
	}
}

// On a miss the object comes from the origin in one piece (it is stored
// so, or, on an S3 target from 16 MiB, in the writer's parts; see
// docs/serve.md): part 1 is the whole object, streamed from the fill as a
// 206; another part is 416 InvalidPartNumber, and the fill goes on and
// stores; a HEAD (origin HEAD) answers the same from the origin's headers.
func TestPartNumberMiss(t *testing.T) {
	leakCheck(t)
	for name, mk := range map[string]func(t *testing.T) *store.Bucket{
		"file":  func(t *testing.T) *store.Bucket { b, _ := fileTarget(t); return b },
		"minio": minioTarget,
	} {
		t.Run(name, func(t *testing.T) {
			o := newTestOrigin(t)
			o.set("a.txt", hundred)
			o.set("b.txt", hundred)
			o.set("h.txt", hundred)
			b := mk(t)
			e := newEnv(t, b, AddressingDomain, originRules(o.URL))

			r := doURL(t, "HEAD", e.url("h.txt")+"?partNumber=1")
			if r.status != 206 || r.header.Get("Content-Range") != "bytes 0-99/100" || r.header.Get("X-Ferry-Mirror") != "origin" {
				t.Errorf("HEAD miss part 1: %d %v", r.status, r.header)
			}
			r = doURL(t, "HEAD", e.url("h.txt")+"?partNumber=2")
			wantError(t, "HEAD miss part 2", r, "HEAD", 416, "InvalidPartNumber")

			r = doURL(t, "GET", e.url("a.txt")+"?partNumber=1")
			if r.status != 206 || r.body != hundred || r.header.Get("Content-Range") != "bytes 0-99/100" || r.header.Get("X-Ferry-Mirror") != "fill" {
				t.Errorf("GET miss part 1: %d %q %v", r.status, r.body, r.header)
			}
			r = doURL(t, "GET", e.url("b.txt")+"?partNumber=2")
			wantError(t, "GET miss part 2", r, "GET", 416, "InvalidPartNumber")
			if r.header.Get("X-Ferry-Mirror") != "fill" {
				t.Errorf("GET miss part 2: %v", r.header)
			}
			waitStored(t, b, "a.txt")
			waitStored(t, b, "b.txt")
			if ok, _ := b.Exists(context.Background(), "h.txt"); ok {
				t.Error("a HEAD stored the object")
			}
			wantError(t, "origin 404", doURL(t, "GET", e.url("none")+"?partNumber=2"), "GET", 404, "NoSuchKey")
			before := o.count.Load()
			wantError(t, "invalid on a miss", doURL(t, "GET", e.url("c.txt")+"?partNumber=0"), "GET", 400, "InvalidArgument")
			if n := o.count.Load(); n != before {
				t.Errorf("an invalid partNumber reached the origin")
			}
			// The stored object is a hit now, with the same answer.
			r = doURL(t, "GET", e.url("b.txt")+"?partNumber=1")
			if r.status != 206 || r.body != hundred || r.header.Get("Content-Range") != "bytes 0-99/100" || r.header.Get("X-Ferry-Mirror") != "hit" {
				t.Errorf("hit after fill, part 1: %d %v", r.status, r.header)
			}
			if n := o.count.Load(); n != 5 {
				t.Errorf("%d origin requests, want 5 (2 HEADs, 3 GETs)", n)
			}
		})
	}
}

// A chunked origin (no Content-Length) gives no size to name a range
// with: part 1 of the miss is the whole object with 200, as a Range is
// ignored there; once stored, part 1 is a 206 of the whole.
func TestPartNumberMissChunked(t *testing.T) {
	leakCheck(t)
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, hundred[:50])
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, hundred[50:])
	}))
	defer o.Close()
	b, _ := fileTarget(t)
	e := newEnv(t, b, AddressingDomain, originRules(o.URL))
	r := doURL(t, "GET", e.url("c.txt")+"?partNumber=1")
	if r.status != 200 || r.body != hundred || r.header.Get("Content-Range") != "" || r.header.Get("X-Ferry-Mirror") != "fill" {
		t.Errorf("chunked miss, part 1: %d %q %v", r.status, r.body, r.header)
	}
	waitStored(t, b, "c.txt")
	r = doURL(t, "GET", e.url("c.txt")+"?partNumber=1")
	if r.status != 206 || r.body != hundred || r.header.Get("Content-Range") != "bytes 0-99/100" {
		t.Errorf("hit, part 1: %d %v", r.status, r.header)
	}
}

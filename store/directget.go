package store

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The direct path reads as it writes: one signed GET or HEAD per answer,
// without the SDK's middleware, giving exactly the Meta that s3blob's
// reader (s3Meta) and Attributes give for the same object (kept so by
// TestDirectGetMatchesSDK). A 3xx is an error, never followed.

// eligibleKey reports whether key is stored under its own name, so the
// direct path reads the object gocloud's s3blob would read.
func (d *DirectPutter) eligibleKey(key string) bool { return !escapedByDriver(d.prefix + key) }

// Get reads key with one GET; rng is a Range header value ("" for the whole
// object). See Bucket.Get for the errors.
func (d *DirectPutter) Get(ctx context.Context, key, rng string) (*Object, error) {
	return d.object(ctx, http.MethodGet, key, rng, 0)
}

// Head returns the Meta of key with one HEAD. See Bucket.Get for the errors.
func (d *DirectPutter) Head(ctx context.Context, key string) (Meta, error) {
	o, err := d.object(ctx, http.MethodHead, key, "", 0)
	if err != nil {
		return Meta{}, err
	}
	return o.Meta, nil
}

// object sends one GET or HEAD of key (with a Range rng, or the query
// partNumber=part when part > 0) and maps the answer: for a 206 the
// Content-Range gives the whole size and where the body starts. A HEAD's
// answer has no Body.
func (d *DirectPutter) object(ctx context.Context, method, key, rng string, part int) (*Object, error) {
	resp, err := d.read(ctx, method, key, rng, part)
	if err != nil {
		return nil, err
	}
	size, off := resp.ContentLength, int64(0)
	// A 206 without Content-Range is MinIO's answer to partNumber=1 of an
	// empty object: the whole (empty) object, as a 200 would be.
	if cr := resp.Header.Get("Content-Range"); resp.StatusCode == http.StatusPartialContent && (cr != "" || resp.ContentLength != 0) {
		total, ok1 := rangeSize(cr)
		start, ok2 := rangeStart(cr)
		if !ok1 || !ok2 {
			_ = resp.Body.Close()
			return nil, &S3Error{Op: method, Key: key, Status: resp.StatusCode, Code: "InvalidResponse", Message: "bad Content-Range " + cr}
		}
		size, off = total, start
	}
	o := &Object{Meta: metaFromS3Header(resp.Header, size), Offset: off, Length: resp.ContentLength, Parts: partsCount(resp.Header)}
	if method == http.MethodGet {
		o.Body = resp.Body
	} else {
		_ = resp.Body.Close()
	}
	return o, nil
}

// partsCount is an answer's x-amz-mp-parts-count, 0 when it has none.
func partsCount(h http.Header) int {
	n, err := strconv.Atoi(h.Get("X-Amz-Mp-Parts-Count"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// read sends one signed GET or HEAD (see object) and returns a 200 or 206 answer; any
// other answer is an *S3Error (its code from the XML body, or for a HEAD
// from MinIO's X-Minio-Error-Code header).
//
// With anonymous_reads the request goes unsigned first, as a browser's
// would to a bucket that grants everyone s3:GetObject: the same answer
// without the signature's work on either side. A 403 to it (a bucket or
// object that is not public, or a missing key where everyone may not list:
// AWS answers those 403) is asked again signed, so every answer is the one
// the credentials get.
func (d *DirectPutter) read(ctx context.Context, method, key, rng string, part int) (*http.Response, error) {
	u := d.objectURL(d.prefix + key)
	if part > 0 {
		u += "?partNumber=" + strconv.Itoa(part)
	}
	send := func(signed bool) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return nil, err
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		if signed {
			if err := d.sign(ctx, req, nil); err != nil {
				return nil, &S3Error{Op: method, Key: key, Err: err}
			}
		}
		resp, err := d.do(req, nil)
		if err != nil {
			return nil, &S3Error{Op: method, Key: key, Err: err}
		}
		return resp, nil
	}
	anon := d.anonReads && d.creds != nil
	resp, err := send(!anon)
	if err != nil {
		return nil, err
	}
	if anon && resp.StatusCode == http.StatusForbidden {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp, err = send(true); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent {
		return resp, nil
	}
	defer resp.Body.Close()
	err = responseError(method, key, resp)
	if se := err.(*S3Error); se.Code == "" {
		se.Code = resp.Header.Get("X-Minio-Error-Code")
	}
	return nil, err
}

// metaFromS3Header maps an S3 GET or HEAD answer's headers as s3Meta maps
// the SDK's output of the same answer (size is the whole object's).
func metaFromS3Header(h http.Header, size int64) Meta {
	m := MetaFromHeader(h, size)
	m.MD5 = etagMD5(m.ETag)
	m.Expires = m.Metadata[MetaExpires] // a target keeps Expires as user metadata
	return m
}

// userMetadata returns the decoded x-amz-meta-* headers of h (names
// lowercased, as the SDK gives them, and unescaped as s3blob does), nil
// when there are none.
func userMetadata(h http.Header) map[string]string {
	var md map[string]string
	for k, vs := range h {
		if len(k) <= len(amzMeta) || !strings.EqualFold(k[:len(amzMeta)], amzMeta) || len(vs) == 0 {
			continue
		}
		if md == nil {
			md = make(map[string]string)
		}
		md[unescapeMetaName(strings.ToLower(k[len(amzMeta):]))] = urlUnescape(strings.TrimSpace(vs[0]))
	}
	return md
}

const amzMeta = "X-Amz-Meta-"

// MetadataHeader sets md on h as x-amz-meta-* headers, named and escaped as
// s3blob stores them (so an answer carries what the target returns for an
// object ferry wrote).
func MetadataHeader(h http.Header, md map[string]string) {
	for k, v := range md {
		h[amzMeta+metaName(k)] = []string{urlEscape(v)}
	}
}

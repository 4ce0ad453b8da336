package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Lister lists an S3 bucket reached by endpoint= with one signed
// ListObjectsV2 request a page, parsed by a scanner of the fixed
// ListBucketResult shape (listxml.go) instead of the AWS SDK's decoder. The
// SDK's decoding and gocloud's wrapping cost 10-15 µs of CPU per listed key,
// which made a partitioned no-op diff of a large bucket CPU-bound; this
// costs a small fraction of that. It lists exactly what the bucket's own
// ListPage lists (same keys, sizes, ETags, MD5s, modification times and
// common prefixes: TestListerMatchesBucket), except that it asks for
// url-encoded keys, so a key with a byte XML cannot carry (a carriage
// return, other control characters) arrives intact.
type Lister struct {
	d         *DirectPutter
	escPrefix string // the bucket prefix as S3 stores it
}

func newLister(d *DirectPutter) *Lister {
	return &Lister{d: d, escPrefix: S3Name(d.prefix)}
}

// ListOptions says what one ListObjectsV2 request lists.
type ListOptions struct {
	// Prefix and Delimiter are as in blob.ListOptions: keys under the
	// bucket's prefix, escaped as gocloud's s3blob escapes them.
	Prefix, Delimiter string
	// StartAfter starts the listing after this stored name (see
	// ListObject.Name), under the bucket's prefix. S3 ignores it when a
	// continuation token is given.
	StartAfter string
	// MaxKeys caps the entries of the page; 0 (or more than 1,000) is S3's
	// limit of 1,000.
	MaxKeys int
}

// ListObject is one listed object.
type ListObject struct {
	Key string // as blob.ListObject.Key: unescaped as s3blob does, without the bucket's prefix
	// Name is the name S3 stores Key under (S3Name(Key)), which orders the
	// listing; it is Key itself for all but a few keys.
	Name    string
	Size    int64
	ETag    string // as the server sent it, quotes included
	MD5     []byte // the ETag's MD5 as s3blob gives it: nil for a multipart ETag
	ModTime time.Time
	// IsDir marks a common prefix (Key ends in "/") of a DirLister that
	// lists one level; a ListPage keeps its prefixes apart instead.
	IsDir bool
}

// ListPage is one page of a listing.
type ListPage struct {
	Objects []ListObject
	// Prefixes are the common prefixes of a listing with a Delimiter, as
	// keys (blob.ListObject with IsDir).
	Prefixes []string
	// PrefixNames are the Prefixes as S3 stores them (see ListObject.Name).
	PrefixNames []string
	// Next is the continuation token of the next page, "" after the last.
	Next string

	raw  []rawObject // the scanner's entries, kept for the next page
	body []byte      // the last answer's body, its room kept for the next
}

// readBody reads an answer's body (up to one byte over maxListBody) into
// buf's room.
func readBody(resp *http.Response, buf []byte) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxListBody {
		buf = slices.Grow(buf[:0], int(n))[:n]
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	if cap(buf) < 256<<10 {
		buf = make([]byte, 0, 256<<10) // a page of 1,000 keys, mostly
	}
	b := bytes.NewBuffer(buf[:0])
	_, err := b.ReadFrom(io.LimitReader(resp.Body, maxListBody+1))
	return b.Bytes(), err
}

// maxListBody caps the body of one page: 1,000 entries of 1 KiB keys with
// their XML stay far below it.
const maxListBody = 16 << 20

// List lists one page into p (whose slices it reuses): the first page when
// token is "", else the page after the one that returned token as Next.
// A refused request is an *S3Error with the server's status and code; a
// body that is no ListBucketResult an error that says so.
func (l *Lister) List(ctx context.Context, token string, o *ListOptions, p *ListPage) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.listURL(token, o), nil)
	if err != nil {
		return err
	}
	what := l.d.prefix + o.Prefix
	if err := l.d.sign(ctx, req, nil); err != nil {
		return &S3Error{Op: "LIST", Key: what, Err: err}
	}
	resp, err := l.d.client.Do(req)
	if err != nil {
		return &S3Error{Op: "LIST", Key: what, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError("LIST", what, resp)
	}
	body, err := readBody(resp, p.body[:0])
	if err != nil {
		return &S3Error{Op: "LIST", Key: what, Status: resp.StatusCode, Err: err}
	}
	p.body = body[:0]
	if len(body) > maxListBody {
		return &S3Error{Op: "LIST", Key: what, Status: resp.StatusCode, Code: "InvalidResponse", Message: "listing page over 16 MiB"}
	}
	if err := l.parse(body, p); err != nil {
		var se *S3Error
		if errors.As(err, &se) {
			se.Key, se.Status = what, resp.StatusCode
			return se
		}
		return &S3Error{Op: "LIST", Key: what, Status: resp.StatusCode, Code: "InvalidResponse", Message: err.Error()}
	}
	return nil
}

// listURL is the ListObjectsV2 request for one page.
func (l *Lister) listURL(token string, o *ListOptions) string {
	u := *l.d.base
	p := strings.TrimSuffix(u.Path, "/")
	if l.d.pathStyle {
		p += "/" + l.d.bucket
	} else {
		u.Host = l.d.bucket + "." + u.Host
		p += "/"
	}
	u.Path, u.RawPath = p, ""
	q := url.Values{"list-type": {"2"}, "encoding-type": {"url"}}
	if o.MaxKeys > 0 && o.MaxKeys < 1000 {
		q.Set("max-keys", strconv.Itoa(o.MaxKeys))
	}
	if pre := l.d.prefix + o.Prefix; pre != "" {
		q.Set("prefix", S3Name(pre))
	}
	if o.Delimiter != "" {
		q.Set("delimiter", S3Name(o.Delimiter))
	}
	if token != "" {
		q.Set("continuation-token", token)
	} else if o.StartAfter != "" {
		q.Set("start-after", l.escPrefix+o.StartAfter)
	}
	// The signer canonicalizes the query again (spaces as %20).
	u.RawQuery = q.Encode()
	return u.String()
}

// parse fills p from a ListBucketResult body.
func (l *Lister) parse(body []byte, p *ListPage) error {
	r := listResult{objs: p.raw[:0]}
	defer func() { clear(r.objs); p.raw = r.objs[:0] }() // no slices of this body kept
	if err := r.scan(body); err != nil {
		return err
	}
	if r.errCode != "" {
		return &S3Error{Op: "LIST", Code: r.errCode, Message: r.errMessage}
	}
	if r.truncated && len(r.next) == 0 {
		return errors.New("truncated listing without a NextContinuationToken")
	}
	p.Next = string(r.next)
	return r.fill(p, l.d.prefix, l.escPrefix)
}

// fill turns the raw entries into p's objects: names url-decoded (when the
// server says it encoded them), keys unescaped as s3blob unescapes them,
// the bucket's prefix trimmed. All names and ETags of a page share one
// allocation, and so do the MD5s.
func (r *listResult) fill(p *ListPage, prefix, escPrefix string) error {
	n := 0
	for i := range r.objs {
		n += len(r.objs[i].name) + len(r.objs[i].etag) + 2
	}
	var text strings.Builder // its String() does not copy
	text.Grow(n)
	for i := range r.objs {
		o := &r.objs[i]
		if err := r.writeName(&text, o.name); err != nil {
			return err
		}
		o.nameEnd = text.Len()
		if o.quoted {
			text.WriteByte('"')
			text.Write(o.etag)
			text.WriteByte('"')
		} else {
			text.Write(o.etag)
		}
		o.etagEnd = text.Len()
	}
	all := text.String()
	sums := make([]byte, 16*len(r.objs))
	p.Objects = slices.Grow(p.Objects[:0], len(r.objs))[:len(r.objs)]
	start := 0
	for i := range r.objs {
		o := &r.objs[i]
		name, tag := all[start:o.nameEnd], all[o.nameEnd:o.etagEnd]
		start = o.etagEnd
		key := name
		if strings.Contains(name, "__0x") {
			key = hexUnescape(name)
		}
		var md5 []byte
		if o.quoted && len(o.etag) == 32 {
			if _, err := hex.Decode(sums[16*i:16*i+16], o.etag); err == nil {
				md5 = sums[16*i : 16*i+16 : 16*i+16]
			}
		} else {
			md5 = listETagMD5(tag)
		}
		p.Objects[i] = ListObject{Key: strings.TrimPrefix(key, prefix), Name: strings.TrimPrefix(name, escPrefix),
			Size: o.size, ETag: tag, MD5: md5, ModTime: o.mod}
	}
	p.Prefixes, p.PrefixNames = p.Prefixes[:0], p.PrefixNames[:0]
	for _, raw := range r.prefixes {
		var b strings.Builder
		if err := r.writeName(&b, raw); err != nil {
			return err
		}
		name := b.String()
		key := name
		if strings.Contains(name, "__0x") {
			key = hexUnescape(name)
		}
		p.Prefixes = append(p.Prefixes, strings.TrimPrefix(key, prefix))
		p.PrefixNames = append(p.PrefixNames, strings.TrimPrefix(name, escPrefix))
	}
	return nil
}

// writeName writes the stored name of a raw Key or Prefix to dst.
func (r *listResult) writeName(dst *strings.Builder, raw []byte) error {
	if !r.urlEncoded || bytes.IndexByte(raw, '%') < 0 && bytes.IndexByte(raw, '+') < 0 {
		dst.Write(raw)
		return nil
	}
	// As url.QueryUnescape ("+" is a space), without its allocations.
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '+':
			dst.WriteByte(' ')
		case '%':
			hi, ok1 := unhex(at(raw, i+1))
			lo, ok2 := unhex(at(raw, i+2))
			if !ok1 || !ok2 {
				return fmt.Errorf("key %q is not url-encoded: bad escape at byte %d", raw, i)
			}
			dst.WriteByte(hi<<4 | lo)
			i += 2
		default:
			dst.WriteByte(c)
		}
	}
	return nil
}

func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// listETagMD5 decodes a quoted hex ETag as s3blob's eTagToMD5 does (of any
// length, unlike etagMD5): nil for anything else (a multipart ETag).
func listETagMD5(etag string) []byte {
	if len(etag) < 2 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		return nil
	}
	b, err := hex.DecodeString(etag[1 : len(etag)-1])
	if err != nil {
		return nil
	}
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

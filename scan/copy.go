package scan

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"net/url"
	"regexp"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"golang.org/x/time/rate"
)

// Objects at least this big are uploaded as parallel multipart uploads.
const (
	multipartPart        = 16 << 20
	multipartConcurrency = 4
)

// copier copies one object from a bucket origin into the target.
type copier struct {
	src, dst *store.Bucket
	direct   *store.DirectPutter // small objects into S3 without the SDK; nil = none
	bw       *rate.Limiter       // bytes/s from the origin; nil = unlimited
	rps      *rate.Limiter       // origin requests/s; nil = unlimited
	types    *store.ContentTypes // plain files of a directory origin; nil = ferry's table
}

// copyObject copies key create-only, keeping its metadata, and checks the
// byte count (and MD5 when the listing or key list gave one) before the
// write is committed. It returns the bytes copied and whether the object
// was stored (false: it already existed). The object never appears in the
// target unless every check passed.
//
// listed is the size the listing or key list announced (-1: unknown); the
// transfer already holds that many bytes of the in-flight budget.
func (c *copier) copyObject(ctx context.Context, key string, wantMD5 []byte, listed int64) (int64, bool, error) {
	if c.rps != nil {
		if err := c.rps.Wait(ctx); err != nil {
			return 0, false, err
		}
	}
	r, err := c.src.NewReader(ctx, key, nil)
	if err != nil {
		if store.IsNotFound(err) {
			return 0, false, errVanished
		}
		return 0, false, originErr(err)
	}
	defer r.Close()
	size := r.Size()
	opts, err := c.writerOptions(ctx, r, key)
	if err != nil {
		return 0, false, originErr(err)
	}
	// Objects below the multipart size go into S3 with one direct PUT from
	// memory: any small one, and bigger ones whose size the in-flight
	// budget already counts.
	if c.direct != nil && size >= 0 && (size <= smallObject || (size == listed && size < multipartPart)) && c.direct.Eligible(key, opts) {
		return c.putDirect(ctx, r, key, size, wantMD5, opts)
	}
	if size >= multipartPart {
		opts.BufferSize = multipartPart
		opts.MaxConcurrency = multipartConcurrency
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.dst.NewWriter(wctx, key, opts)
	if err != nil {
		return 0, false, targetErr(err)
	}
	vr, src := c.source(ctx, r, size, wantMD5)
	bp := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(onlyWriter{w}, onlyReader{src}, *bp)
	copyBufs.Put(bp)
	if err == nil {
		err = vr.check()
	}
	if err != nil {
		cancel() // abort: nothing becomes visible
		_ = w.Close()
		var ke *keyError
		if errors.As(err, &ke) {
			return n, false, err
		}
		if vr.readErr {
			return n, false, originErr(err)
		}
		return n, false, targetErr(err)
	}
	return committed(n, w.Close())
}

// putDirect reads an object whole, checks it, and stores it with one direct
// PUT: nothing is sent unless the size (and MD5) matched.
func (c *copier) putDirect(ctx context.Context, r *blob.Reader, key string, size int64, wantMD5 []byte, opts *blob.WriterOptions) (int64, bool, error) {
	vr, src := c.source(ctx, r, size, wantMD5)
	buf, put := getBody(int(size))
	defer put()
	n, err := io.ReadFull(src, buf)
	if err == nil {
		// One more read must end the body: an origin that sends more than
		// it announced fails the size check.
		var one [1]byte
		var k int
		k, err = io.ReadFull(src, one[:])
		n += k
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = nil
		} // else (err == nil) vr counted the excess byte and check fails
	}
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		err = vr.check()
	}
	if err != nil {
		var ke *keyError
		if errors.As(err, &ke) || !vr.readErr {
			return int64(n), false, err
		}
		return int64(n), false, originErr(err)
	}
	return committed(int64(n), c.direct.Put(ctx, key, buf, opts))
}

// source wraps r in the checks every copy makes (byte count, MD5 when
// known) and the bandwidth limit.
func (c *copier) source(ctx context.Context, r io.Reader, size int64, wantMD5 []byte) (*verifyReader, io.Reader) {
	vr := &verifyReader{r: r, want: size, md5: wantMD5}
	if len(wantMD5) > 0 {
		vr.h = md5.New()
	}
	if c.bw != nil {
		return vr, &limitReader{ctx: ctx, r: vr, lim: c.bw}
	}
	return vr, vr
}

// committed turns the commit of a create-only write into copyObject's
// result: an existing key is no error, it just was not stored.
func committed(n int64, err error) (int64, bool, error) {
	switch {
	case err == nil:
		return n, true, nil
	case store.IsExists(err):
		return n, false, nil
	default:
		return n, false, targetErr(err)
	}
}

// smallObject: up to this size a direct PUT needs no in-flight budget
// (transfers × 1 MiB at most).
const smallObject = store.DirectPutMax

// bodyPools hold direct-PUT bodies above smallObject by power-of-two size
// class, so that copying many mid-size objects does not allocate (and
// zero) a fresh buffer for each.
var bodyPools [32]sync.Pool

// getBody returns a buffer of n bytes and a func that gives it back.
func getBody(n int) ([]byte, func()) {
	if n <= smallObject {
		return make([]byte, n), func() {}
	}
	class := bits.Len(uint(n - 1)) // 2^class >= n
	p := &bodyPools[class]
	bp, _ := p.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 1<<class)
		bp = &b
	}
	return (*bp)[:n], func() { p.Put(bp) }
}

// writerOptions carries the source object's metadata over.
func (c *copier) writerOptions(ctx context.Context, r *blob.Reader, key string) (*blob.WriterOptions, error) {
	o := &blob.WriterOptions{IfNotExist: true}
	var out s3.GetObjectOutput
	if r.As(&out) {
		o.ContentType = aws.ToString(out.ContentType)
		o.ContentEncoding = aws.ToString(out.ContentEncoding)
		o.ContentDisposition = aws.ToString(out.ContentDisposition)
		o.ContentLanguage = aws.ToString(out.ContentLanguage)
		o.CacheControl = aws.ToString(out.CacheControl)
		if len(out.Metadata) > 0 {
			o.Metadata = make(map[string]string, len(out.Metadata))
			for k, v := range out.Metadata {
				o.Metadata[unescapeMeta(k)] = urlUnescape(v)
			}
		}
	} else {
		a, err := c.src.Attributes(ctx, key)
		if err != nil {
			return nil, err
		}
		o.ContentType = c.types.ForAttributes(key, a)
		o.ContentEncoding = a.ContentEncoding
		o.ContentDisposition = a.ContentDisposition
		o.ContentLanguage = a.ContentLanguage
		o.CacheControl = a.CacheControl
		o.Metadata = a.Metadata
	}
	if o.ContentType == "" {
		o.ContentType = r.ContentType()
	}
	o.DisableContentTypeDetection = o.ContentType != ""
	return o, nil
}

var hexEscaped = regexp.MustCompile(`__0x([0-9a-fA-F]+)__`)

// unescapeMeta undoes gocloud's escaping of S3 metadata keys
// (URL escaping plus __0xHEX__ for some characters).
func unescapeMeta(k string) string {
	k = urlUnescape(k)
	return hexEscaped.ReplaceAllStringFunc(k, func(m string) string {
		v, err := strconv.ParseUint(m[4:len(m)-2], 16, 32)
		if err != nil {
			return m
		}
		return string(rune(v))
	})
}

func urlUnescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// copyBufs holds the buffers copyObject copies through. Without them,
// blob.Writer.ReadFrom allocates (and the runtime zeroes) 1 MiB per object,
// which dominated the client CPU of small-object copies.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// onlyWriter hides ReaderFrom so io.CopyBuffer uses the pooled buffer.
type onlyWriter struct{ io.Writer }

// onlyReader hides WriterTo so io.Copy goes through our Read (which counts
// and verifies) rather than a driver shortcut.
type onlyReader struct{ io.Reader }

// verifyReader counts and hashes what it reads; the byte count must equal
// want and the MD5 (when set) must match at the end.
type verifyReader struct {
	r       io.Reader
	n, want int64
	md5     []byte
	h       hash.Hash
	readErr bool
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.n += int64(n)
	if v.h != nil && n > 0 {
		v.h.Write(p[:n])
	}
	if err != nil && err != io.EOF {
		v.readErr = true
	}
	if err == io.EOF {
		if cerr := v.check(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

func (v *verifyReader) check() error {
	if v.want >= 0 && v.n != v.want {
		return failure("size", fmt.Errorf("read %d bytes, the origin announced %d", v.n, v.want))
	}
	if v.h != nil {
		if sum := v.h.Sum(nil); !bytes.Equal(sum, v.md5) {
			return failure("md5", fmt.Errorf("MD5 %x, expected %x", sum, v.md5))
		}
	}
	return nil
}

// limitReader throttles reads to a shared byte rate.
type limitReader struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
}

func (l *limitReader) Read(p []byte) (int, error) {
	if b := l.lim.Burst(); len(p) > b {
		p = p[:b]
	}
	n, err := l.r.Read(p)
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// sameContent compares the object key in both buckets byte by byte.
func sameContent(ctx context.Context, a, b *store.Bucket, key string) (bool, error) {
	ra, err := a.NewReader(ctx, key, nil)
	if err != nil {
		return false, originErr(err)
	}
	defer ra.Close()
	rb, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return false, targetErr(err)
	}
	defer rb.Close()
	if ra.Size() != rb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(ra, ba)
		nb, eb := io.ReadFull(rb, bb)
		if ea != nil && ea != io.EOF && ea != io.ErrUnexpectedEOF {
			return false, originErr(ea)
		}
		if eb != nil && eb != io.EOF && eb != io.ErrUnexpectedEOF {
			return false, targetErr(eb)
		}
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil || eb != nil {
			return (ea != nil) == (eb != nil), nil
		}
	}
}

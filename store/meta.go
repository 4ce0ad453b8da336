package store

import (
	"context"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// User metadata keys under which ferry stores what an origin said about an
// object that gocloud's blob has no field for.
const (
	MetaOriginETag         = "origin-etag"          // the origin's ETag, quoted as sent
	MetaOriginLastModified = "origin-last-modified" // the origin's Last-Modified, HTTP date format
	MetaExpires            = "expires"              // the Expires header
)

// Meta is what ferry keeps of an object besides its bytes: its size, the
// content headers, its validators, the MD5 its body must have, and user
// metadata. It is the one mapping between HTTP headers, bucket attributes,
// fileblob sidecars and the options of a write: every path that reads or
// stores an object goes through it.
type Meta struct {
	Size               int64 // -1 when not known (an HTTP answer without Content-Length)
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	ETag               string // quoted, as the origin or the target sent it
	LastModified       time.Time

	MD5      []byte            // the body's MD5 when known; checked before a commit
	Metadata map[string]string // user metadata of a bucket object, kept by a copy
}

// MetaFromHeader maps an HTTP answer's headers, including user metadata
// (x-amz-meta-*, as an S3 origin sends it); size is its Content-Length (-1:
// none). The caller decodes Content-MD5 (an invalid one is an error).
func MetaFromHeader(h http.Header, size int64) Meta {
	m := Meta{
		Size:               size,
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    h.Get("Content-Encoding"),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		ETag:               h.Get("ETag"),
		Metadata:           userMetadata(h),
	}
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		m.LastModified = t
	}
	return m
}

// MetaFromAttributes maps a bucket object's attributes. A bucket that keeps
// no ETag gets one from the MD5.
func MetaFromAttributes(a *blob.Attributes) Meta {
	m := Meta{
		Size:               a.Size,
		ContentType:        a.ContentType,
		ContentEncoding:    a.ContentEncoding,
		ContentDisposition: a.ContentDisposition,
		ContentLanguage:    a.ContentLanguage,
		CacheControl:       a.CacheControl,
		Expires:            a.Metadata[MetaExpires],
		ETag:               a.ETag,
		LastModified:       a.ModTime,
		MD5:                a.MD5,
		Metadata:           a.Metadata,
	}
	if m.ETag == "" && len(a.MD5) > 0 {
		m.ETag = `"` + hex.EncodeToString(a.MD5) + `"`
	}
	return m
}

// WriterOptions returns the options of a create-only write that stores m:
// the content headers, and as user metadata the object's own metadata plus
// the origin's ETag, Last-Modified and Expires (an object that already
// carries those, copied from an earlier ferry target, keeps its values).
func (m *Meta) WriterOptions() *blob.WriterOptions {
	return &blob.WriterOptions{
		IfNotExist:         true,
		ContentType:        m.ContentType,
		ContentEncoding:    m.ContentEncoding,
		ContentDisposition: m.ContentDisposition,
		ContentLanguage:    m.ContentLanguage,
		CacheControl:       m.CacheControl,
		Metadata:           m.StoredMetadata(),
	}
}

// StoredMetadata is the user metadata a write of m stores: the object's own
// metadata plus the origin's ETag, Last-Modified and Expires (see
// WriterOptions).
func (m *Meta) StoredMetadata() map[string]string {
	md := make(map[string]string, len(m.Metadata)+3)
	if m.ETag != "" {
		md[MetaOriginETag] = m.ETag
	}
	if !m.LastModified.IsZero() {
		md[MetaOriginLastModified] = m.LastModified.UTC().Format(http.TimeFormat)
	}
	if m.Expires != "" {
		md[MetaExpires] = m.Expires
	}
	maps.Copy(md, m.Metadata)
	return md
}

// Stat returns the Meta of key (a HEAD). types gives plain files of a local
// directory their type by name (nil: ferry's table). A missing object is an
// error for which IsNotFound is true.
func (b *Bucket) Stat(ctx context.Context, key string, types *ContentTypes) (Meta, error) {
	if f, m, untyped, err := b.openFile(key, false); err == nil {
		_ = f.Close()
		if untyped {
			m.ContentType = types.ByName(key)
		}
		return m, nil
	} else if err != ErrNoFastPath {
		return Meta{}, err
	}
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return Meta{}, err
	}
	m := b.metaOf(a)
	m.ContentType = types.ForAttributes(key, a)
	return m, nil
}

// OpenObject opens key for reading with its Meta, in as few requests as the
// bucket allows: a local directory's file and sidecar straight from disk, an
// S3, Azure or GCS object's headers from its GET answer (Get: the direct GET of
// an endpoint= bucket, else the SDK's), else the reader and the object's
// attributes. types is as for Stat. The caller closes the reader.
func (b *Bucket) OpenObject(ctx context.Context, key string, types *ContentTypes) (io.ReadCloser, Meta, error) {
	if f, m, untyped, err := b.openFile(key, false); err == nil {
		if untyped {
			m.ContentType = types.ByName(key)
		}
		return f, m, nil
	} else if err != ErrNoFastPath {
		return nil, Meta{}, err
	}
	if b.s3 || b.azure || b.gcs {
		o, err := b.Get(ctx, key, "")
		if err != nil {
			return nil, Meta{}, err
		}
		return o.Body, o.Meta, nil
	}
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, Meta{}, err
	}
	a, err := b.Attributes(ctx, key)
	if err != nil {
		_ = r.Close()
		return nil, Meta{}, err
	}
	m := b.metaOf(a)
	m.ContentType = types.ForAttributes(key, a)
	m.Size = r.Size()
	return r, m, nil
}

// s3Meta maps an S3 GET answer as s3blob's Attributes would (the MD5 is
// the ETag of a single-part upload), undoing s3blob's escaping of metadata
// names and values (the inverse of what the direct PUT applies).
func s3Meta(out *s3.GetObjectOutput, size int64) Meta {
	m := Meta{
		Size:               size,
		ContentType:        aws.ToString(out.ContentType),
		ContentEncoding:    aws.ToString(out.ContentEncoding),
		ContentDisposition: aws.ToString(out.ContentDisposition),
		ContentLanguage:    aws.ToString(out.ContentLanguage),
		CacheControl:       aws.ToString(out.CacheControl),
		ETag:               aws.ToString(out.ETag),
		MD5:                etagMD5(aws.ToString(out.ETag)),
	}
	if out.LastModified != nil {
		m.LastModified = *out.LastModified
	}
	if len(out.Metadata) > 0 {
		m.Metadata = make(map[string]string, len(out.Metadata))
		for k, v := range out.Metadata {
			m.Metadata[unescapeMetaName(k)] = urlUnescape(v)
		}
		m.Expires = m.Metadata[MetaExpires]
	}
	return m
}

// etagMD5 returns the MD5 a quoted S3 ETag stands for, nil when it is not
// one (a multipart upload's ETag has a "-").
func etagMD5(etag string) []byte {
	if len(etag) < 2 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		return nil
	}
	sum, err := hex.DecodeString(etag[1 : len(etag)-1])
	if err != nil || len(sum) != 16 {
		return nil
	}
	return sum
}

var hexEscaped = regexp.MustCompile(`__0x([0-9a-fA-F]+)__`)

// unescapeMetaName undoes s3blob's escaping of a metadata name (URL
// escaping, then __0xHEX__ for some characters); metaName applies it.
func unescapeMetaName(k string) string {
	k = urlUnescape(k)
	return hexEscaped.ReplaceAllStringFunc(k, func(m string) string {
		v, err := strconv.ParseUint(m[4:len(m)-2], 16, 32)
		if err != nil {
			return m
		}
		return string(rune(v))
	})
}

// urlEscape escapes a metadata value as s3blob does.
func urlEscape(s string) string { return url.PathEscape(s) }

func urlUnescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

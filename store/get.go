package store

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
)

// An Object is what one read of a target answered: the object's Meta (its
// whole size and headers) and, when the bucket sent it with the answer, a
// body holding bytes [Offset, Offset+Length) of the object. For a read of
// a part (GetPart, HeadPart), Offset and Length are the part's bytes even
// when there is no Body.
type Object struct {
	Meta   Meta
	Body   io.ReadCloser // nil: only the Meta was read (read bytes with NewRangeReader)
	Offset int64
	Length int64
	Parts  int // a part read's x-amz-mp-parts-count: the object's number of parts; 0 when the target sent none (an object stored in one piece)
}

// Get reads key with one request where the bucket allows it: an S3 bucket
// answers a GET with the object's headers and the body of rng (a Range
// header value such as "bytes=0-9" or "bytes=-5"; "" for the whole object),
// through the direct path for an endpoint= bucket or through the SDK
// otherwise; an Azure bucket answers one Get Blob the same way, except for
// a suffix range, which Azure does not take. Other buckets (and Azure for
// a suffix range) answer with the Meta only (their Attributes) and Body
// nil. The caller closes Body.
//
// A missing object is an error for which IsNotFound is true (and
// IsNoSuchBucket when the bucket itself is gone); a range the object cannot
// satisfy one for which IsInvalidRange is true.
func (b *Bucket) Get(ctx context.Context, key, rng string) (*Object, error) {
	switch {
	case b.direct != nil && b.direct.eligibleKey(key):
		return b.direct.Get(ctx, key, rng)
	case b.s3:
		return b.sdkGet(ctx, key, rng, 0)
	case b.azure:
		return b.azureGet(ctx, key, rng)
	case b.gcs:
		return b.gcsGet(ctx, key, rng)
	}
	return b.attributesObject(ctx, key)
}

// attributesObject answers a read with the Meta of key's attributes and
// no Body.
func (b *Bucket) attributesObject(ctx context.Context, key string) (*Object, error) {
	m, err := b.attributesMeta(ctx, key)
	if err != nil {
		return nil, err
	}
	return &Object{Meta: m}, nil
}

// attributesMeta is the Meta of key's attributes (one request), mapped as
// the bucket's reads map it (gcsAttributesMeta for GCS).
func (b *Bucket) attributesMeta(ctx context.Context, key string) (Meta, error) {
	if b.gcs {
		rctx, ans := gcsContext(ctx)
		a, err := b.Attributes(rctx, key)
		if err != nil {
			return Meta{}, gcsReadError(err, ans)
		}
		return gcsAttributesMeta(a), nil
	}
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return Meta{}, err
	}
	return MetaFromAttributes(a), nil
}

// metaOf maps a of this bucket: MetaFromAttributes, with GCS's ETag rule.
func (b *Bucket) metaOf(a *blob.Attributes) Meta {
	if b.gcs {
		return gcsAttributesMeta(a)
	}
	return MetaFromAttributes(a)
}

// Head returns the Meta of key with one request: a direct HEAD for an
// endpoint= S3 bucket, the bucket's Attributes (one HEAD, or Azure's Get
// Blob Properties) otherwise. Errors are as for Get.
func (b *Bucket) Head(ctx context.Context, key string) (Meta, error) {
	if b.direct != nil && b.direct.eligibleKey(key) {
		return b.direct.Head(ctx, key)
	}
	return b.attributesMeta(ctx, key)
}

// sdkGet is Get through gocloud's s3blob: one GetObject whose Range is rng,
// or whose PartNumber is part when part > 0.
func (b *Bucket) sdkGet(ctx context.Context, key, rng string, part int) (*Object, error) {
	opts := &blob.ReaderOptions{}
	if rng != "" || part > 0 {
		opts.BeforeRead = func(as func(any) bool) error {
			var in *s3.GetObjectInput
			if as(&in) {
				if rng != "" {
					in.Range = aws.String(rng)
				}
				if part > 0 {
					in.PartNumber = aws.Int32(int32(part))
				}
			}
			return nil
		}
	}
	r, err := b.NewReader(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	var out s3.GetObjectOutput
	if !r.As(&out) {
		_ = r.Close()
		return nil, errors.New("store: s3 reader without a GetObjectOutput")
	}
	o := &Object{Meta: s3Meta(&out, r.Size()), Body: r, Length: aws.ToInt64(out.ContentLength), Parts: int(aws.ToInt32(out.PartsCount))}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if off, ok := rangeStart(cr); ok {
			o.Offset = off
		}
	}
	return o, nil
}

// rangeStart returns the first byte of a Content-Range "bytes a-b/n".
func rangeStart(cr string) (int64, bool) {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(s, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil && n >= 0
}

// rangeSize returns the whole size n of a Content-Range "bytes a-b/n".
func rangeSize(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil && n >= 0
}

// IsInvalidRange reports whether err is a target refusing a read's range as
// not satisfiable (HTTP 416, S3 code InvalidRange).
func IsInvalidRange(err error) bool {
	if re := azureError(err); re != nil {
		return re.StatusCode == http.StatusRequestedRangeNotSatisfiable
	}
	if ge := gcsError(err); ge != nil {
		return ge.Code == http.StatusRequestedRangeNotSatisfiable
	}
	var sc interface{ HTTPStatusCode() int }
	return errors.As(err, &sc) && sc.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable
}

// IsNoSuchBucket reports whether err says the bucket itself does not exist
// (S3 code NoSuchBucket, Azure's ContainerNotFound, a GCS read's 404 whose
// body said so), not only the object.
func IsNoSuchBucket(err error) bool {
	var ge *gcsGoneError
	if errors.As(err, &ge) {
		return true
	}
	c := ErrorCode(err)
	return c == "NoSuchBucket" || c == "ContainerNotFound"
}

// ErrorCode returns the S3 error code of a failed request to a bucket
// (NoSuchKey, XMinioInvalidObjectName, ...), or Azure's (BlobNotFound,
// ContainerNotFound, ...), "" when there is none.
func ErrorCode(err error) string {
	var se *S3Error
	if errors.As(err, &se) {
		return se.Code
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if re := azureError(err); re != nil {
		return re.ErrorCode
	}
	return ""
}

// ErrorMessage returns the message of a target's S3 error, "" when none.
func ErrorMessage(err error) string {
	var se *S3Error
	if errors.As(err, &se) {
		return se.Message
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

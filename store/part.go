package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// Reads of one part of an object, as S3's GetObject and HeadObject with
// partNumber: an S3 bucket is asked for the part (the answer gives its
// bytes, the whole size and the parts count); other buckets keep every
// object in one piece, so part 1 is the whole object and there is no other
// (OnePart).

// MaxParts is the highest part number S3 allows.
const MaxParts = 10000

// ErrNoSuchPart is a part read of an object without that part (S3's 416
// InvalidPartNumber). IsInvalidPart tests for it.
var ErrNoSuchPart = errors.New("the object has no such part")

// IsInvalidPart reports whether err is a part read of an object that has
// no such part.
func IsInvalidPart(err error) bool { return errors.Is(err, ErrNoSuchPart) }

// GetPart reads part number (1..MaxParts) of key with one request: the
// Object's Offset and Length are the part's bytes (the Body holds them when
// the bucket sent it, else read them with NewRangeReader), Meta.Size the
// whole object's size, Parts the target's parts count. An object without
// that part is an error for which IsInvalidPart is true; other errors are
// as for Get. The caller closes Body.
func (b *Bucket) GetPart(ctx context.Context, key string, number int) (*Object, error) {
	var o *Object
	var err error
	switch {
	case b.direct != nil && b.direct.eligibleKey(key):
		o, err = b.direct.object(ctx, http.MethodGet, key, "", number)
	case b.s3:
		o, err = b.sdkGet(ctx, key, "", number)
	case b.azure && number == 1:
		// An Azure blob is one part: part 1 is the whole blob, one GET.
		return b.azureGet(ctx, key, "")
	case b.gcs && number == 1:
		return b.gcsGet(ctx, key, "")
	default:
		return b.onePart(ctx, key, number)
	}
	return o, partError(err)
}

// HeadPart is GetPart without the part's bytes: one HEAD (Body is nil).
func (b *Bucket) HeadPart(ctx context.Context, key string, number int) (*Object, error) {
	var o *Object
	var err error
	switch {
	case b.direct != nil && b.direct.eligibleKey(key):
		o, err = b.direct.object(ctx, http.MethodHead, key, "", number)
	case b.s3 && !escapedByDriver(b.s3Prefix+key):
		o, err = b.sdkHeadPart(ctx, key, number)
	case b.s3:
		// gocloud has no HEAD with options, and the SDK would need the
		// driver's escaped name: a GET of the part, its body not read.
		if o, err = b.sdkGet(ctx, key, "", number); err == nil {
			_ = o.Body.Close()
			o.Body = nil
		}
	default:
		return b.onePart(ctx, key, number)
	}
	return o, partError(err)
}

// onePart answers a part read of a bucket without parts from the object's
// attributes.
func (b *Bucket) onePart(ctx context.Context, key string, number int) (*Object, error) {
	m, err := b.attributesMeta(ctx, key)
	if err != nil {
		return nil, err
	}
	return OnePart(number, m)
}

// OnePart is the answer to a read of part number of an object stored in
// one piece (a file, a blob of a bucket without parts, a fill from an
// origin): part 1 is the whole object, any other is ErrNoSuchPart.
func OnePart(number int, m Meta) (*Object, error) {
	if number != 1 {
		return nil, fmt.Errorf("part %d: %w (the object is stored in one piece)", number, ErrNoSuchPart)
	}
	return &Object{Meta: m, Length: m.Size}, nil
}

// partError marks a target's 416 to a part read as ErrNoSuchPart (S3 says
// InvalidPartNumber; to a HEAD it can only say 416).
func partError(err error) error {
	if err != nil && IsInvalidRange(err) {
		return fmt.Errorf("%w: %w", ErrNoSuchPart, err)
	}
	return err
}

// sdkHeadPart is HeadPart through the SDK: one HeadObject with PartNumber,
// mapped as sdkGet maps a GetObject's answer.
func (b *Bucket) sdkHeadPart(ctx context.Context, key string, number int) (*Object, error) {
	var c *s3.Client
	if !b.As(&c) {
		return nil, errors.New("store: S3 bucket without an SDK client")
	}
	out, err := c.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(b.s3Name), Key: aws.String(b.s3Prefix + key), PartNumber: aws.Int32(int32(number))})
	if err != nil {
		return nil, sdkError(http.MethodHead, key, err)
	}
	get := &s3.GetObjectOutput{
		ContentType: out.ContentType, ContentEncoding: out.ContentEncoding, ContentDisposition: out.ContentDisposition,
		ContentLanguage: out.ContentLanguage, CacheControl: out.CacheControl, ETag: out.ETag,
		LastModified: out.LastModified, Metadata: out.Metadata,
	}
	length := aws.ToInt64(out.ContentLength)
	size, off := length, int64(0)
	if cr := aws.ToString(out.ContentRange); cr != "" {
		total, ok1 := rangeSize(cr)
		start, ok2 := rangeStart(cr)
		if !ok1 || !ok2 {
			return nil, &S3Error{Op: http.MethodHead, Key: key, Status: http.StatusPartialContent, Code: "InvalidResponse", Message: "bad Content-Range " + cr}
		}
		size, off = total, start
	}
	return &Object{Meta: s3Meta(get, size), Offset: off, Length: length, Parts: int(aws.ToInt32(out.PartsCount))}, nil
}

// sdkError turns an error of a call on the SDK's own client (not through
// gocloud, whose errors the Is* functions know) into an *S3Error with the
// answer's status and code, so that IsNotFound and the others hold.
func sdkError(op, key string, err error) error {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	e := &S3Error{Op: op, Key: key, Status: re.HTTPStatusCode(), RequestID: re.ServiceRequestID(), Err: err}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code, e.Message = ae.ErrorCode(), ae.ErrorMessage()
	}
	return e
}

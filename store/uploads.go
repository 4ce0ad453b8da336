package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MultipartThreshold is the size from which gocloud's S3 writer (the SDK's
// transfer manager) stores an object as a multipart upload: a write that
// handed the writer fewer bytes never created one.
const MultipartThreshold = 16 << 20

// HasUploads reports whether a failed write to b can leave a multipart
// upload pending (S3 buckets; others have no such thing).
func (b *Bucket) HasUploads() bool { return b.s3 }

// AbortUploads aborts the pending multipart uploads of exactly key (not of
// other keys that start with it) that the target says were initiated
// within [from, to], and returns how many it aborted. It is for a write of
// key that failed in a way that can leave its upload behind, which the
// SDK then cannot abort: the response to CreateMultipartUpload was lost
// (the upload ID never came back), the abort itself failed, or the process
// died. The caller bounds the window by when its own write began and
// ended, so that an upload of the same key that another writer began
// earlier is kept.
//
// Buckets other than S3 have no uploads: 0, nil. An upload that is gone by
// the time it is aborted (NoSuchUpload) is neither counted nor an error. A
// key that gocloud's S3 driver stores under an escaped name (control
// characters, "../", "__0x", invalid UTF-8) is not swept: the error says so.
func (b *Bucket) AbortUploads(ctx context.Context, key string, from, to time.Time) (int, error) {
	if !b.s3 {
		return 0, nil
	}
	var c *s3.Client
	if !b.As(&c) {
		return 0, errors.New("store: S3 bucket without an SDK client")
	}
	full := b.s3Prefix + key
	if escapedByDriver(full) {
		return 0, fmt.Errorf("abort uploads of %q: the S3 driver stores this key under an escaped name; not swept", key)
	}
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(b.s3Name), Prefix: aws.String(full)}
	aborted := 0
	var errs []error
	for {
		out, err := c.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, errors.Join(append(errs, fmt.Errorf("list multipart uploads of %q: %w", key, err))...)
		}
		for _, u := range out.Uploads {
			at := aws.ToTime(u.Initiated)
			if aws.ToString(u.Key) != full || at.Before(from) || at.After(to) {
				continue
			}
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(b.s3Name), Key: u.Key, UploadId: u.UploadId})
			switch {
			case err == nil:
				aborted++
			case ErrorCode(err) != "NoSuchUpload":
				errs = append(errs, fmt.Errorf("abort multipart upload %s of %q: %w", aws.ToString(u.UploadId), key, err))
			}
		}
		// Uploads are listed by key, then by time: past key, nothing more is ours.
		n := len(out.Uploads)
		if !aws.ToBool(out.IsTruncated) || n == 0 || aws.ToString(out.Uploads[n-1].Key) != full {
			return aborted, errors.Join(errs...)
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

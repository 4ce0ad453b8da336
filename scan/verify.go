package scan

import (
	"bytes"
	"context"
	"io"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/store"
)

// sameContent compares the object key in both buckets byte by byte; a
// failure is a *sideError naming the side that failed.
func sameContent(ctx context.Context, origin, target *store.Bucket, key string) (bool, error) {
	ra, err := origin.NewReader(ctx, key, nil)
	if err != nil {
		return false, &sideError{mirror.ReasonOrigin, err}
	}
	defer ra.Close()
	rb, err := target.NewReader(ctx, key, nil)
	if err != nil {
		return false, &sideError{reasonTarget, err}
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
			return false, &sideError{mirror.ReasonOrigin, ea}
		}
		if eb != nil && eb != io.EOF && eb != io.ErrUnexpectedEOF {
			return false, &sideError{reasonTarget, eb}
		}
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil || eb != nil {
			return (ea != nil) == (eb != nil), nil
		}
	}
}

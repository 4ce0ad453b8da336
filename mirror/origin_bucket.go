package mirror

import (
	"context"

	"github.com/ferry-migrate/ferry/store"
)

// OriginBucket returns the open bucket of a bucket origin URL as a rule
// names it, from the same cache fills use (opened on first use with
// Options.OpenBucket). serve lists it to merge the origin's keys into its
// listings. The Mirror owns the bucket: do not close it.
func (m *Mirror) OriginBucket(ctx context.Context, rawURL string) (*store.Bucket, error) {
	return m.buckets.get(ctx, rawURL)
}

package scan

import (
	"context"
	"log/slog"

	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"
)

// produceList merge-joins the origin and target listings. Listings are not
// always in byte order (MinIO puts "a/b" before "a\tb"; fileblob orders by
// escaped file names), so the join is only trusted for what it can prove:
// a key listed on both sides is present. A key the join did not find in the
// target is copied directly when the target listing is empty, and otherwise
// checked with one HEAD first (it may sit elsewhere in the target listing);
// create-only writes keep even a wrong guess harmless.
func (r *run) produceList(ctx context.Context, out chan<- item) error {
	g, ctx := errgroup.WithContext(ctx)
	lctx, stopListing := context.WithCancel(ctx)
	oc := make(chan []*blob.ListObject, 4)
	tc := make(chan []*blob.ListObject, 4)
	lister := func(b *store.Bucket, side string, ch chan<- []*blob.ListObject) func() error {
		return func() error {
			err := r.list(lctx, b, side, ch)
			if err != nil && lctx.Err() != nil && ctx.Err() == nil {
				return nil // the join needs no more of this listing
			}
			return err
		}
	}
	g.Go(lister(r.o.Origin, "origin", oc))
	g.Go(lister(r.o.Target, "target", tc))
	g.Go(func() error {
		defer stopListing()
		ost := &stream{ch: oc, name: "origin", r: r}
		ts := &stream{ch: tc, name: "target", r: r}
		t, err := ts.peek(ctx)
		if err != nil {
			return err
		}
		targetEmpty := t == nil
		var seq int64
		for {
			o, err := ost.peek(ctx)
			if err != nil || o == nil {
				return err
			}
			if !r.f.match(o.Key) {
				ost.advance()
				continue
			}
			t, err = ts.peek(ctx)
			if err != nil {
				return err
			}
			if t != nil && t.Key < o.Key {
				ts.advance() // only in the target
				continue
			}
			r.t.note(evListed, o.Size)
			delete(r.pendingExtra, o.Key)
			it := item{key: o.Key, size: o.Size, md5: o.MD5, seq: seq}
			seq++
			switch {
			case t != nil && t.Key == o.Key:
				ts.advance()
				if r.o.Checksum && !r.o.DryRun {
					it.act = actVerify
				} else {
					r.record(it, r.present(it, t.Size))
					ost.advance()
					continue
				}
			case targetEmpty:
				it.act = actCopy
			default:
				it.act = actCheck
			}
			ost.advance()
			if err := send(ctx, out, it); err != nil {
				return err
			}
		}
	})
	return g.Wait()
}

// list sends the pages of b's listing to out, retrying transient errors.
func (r *run) list(ctx context.Context, b *store.Bucket, side string, out chan<- []*blob.ListObject) error {
	defer close(out)
	opts := &blob.ListOptions{Prefix: r.o.Prefix}
	token := blob.FirstPageToken
	pageSize := listPageSize
	for {
		var (
			objs []*blob.ListObject
			next []byte
		)
		err := r.retry(ctx, slog.String("listing", side), func() error {
			var err error
			objs, next, err = b.ListPage(ctx, token, pageSize, opts)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &FatalError{Op: "list " + side, Err: err}
		}
		select {
		case out <- objs:
		case <-ctx.Done():
			return ctx.Err()
		}
		if len(next) == 0 {
			return nil
		}
		token = next
		// fileblob walks the directory tree from the start for every page
		// (and reads each file's attributes on the way), so many small pages
		// make a local listing quadratic: 20,000 files in pages of 1,000
		// visited 210,000 files. Growing pages keep that in check; S3 servers
		// cap a page at 1,000 keys whatever is asked.
		pageSize = min(pageSize*2, maxListPageSize)
	}
}

// stream is one side of the merge-join.
type stream struct {
	ch      <-chan []*blob.ListObject
	page    []*blob.ListObject
	i       int
	prev    string
	started bool
	done    bool
	name    string
	r       *run
}

// peek returns the current object (nil at the end) without consuming it.
func (s *stream) peek(ctx context.Context) (*blob.ListObject, error) {
	for !s.done {
		for s.i < len(s.page) {
			o := s.page[s.i]
			if o.IsDir {
				s.i++
				continue
			}
			return o, nil
		}
		select {
		case p, ok := <-s.ch:
			if !ok {
				s.done = true
				return nil, nil
			}
			s.page, s.i = p, 0
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, nil
}

// advance consumes the current object and notes one that broke byte order.
func (s *stream) advance() {
	o := s.page[s.i]
	s.i++
	if s.started && o.Key < s.prev {
		s.r.t.note(evOutOfOrder, 0)
		s.r.log.Debug("listing out of byte order", "side", s.name, "key", o.Key, "after", s.prev)
	}
	s.prev, s.started = o.Key, true
}

package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"
)

// span is one part of the key space, listed on both sides and joined: the
// keys under prefix whose names (sortKeyOf) are in kr and start with under.
//
// A span with levels lists one level of its prefix (delimiter "/"): the
// level's keys are joined, and each directory in kr becomes a span of its
// own (see subtree), queued for the listers or listed in place. A
// directory bigger than a page is cut by its own listing: a span that
// merely holds it lists it from one end to the other (see splitPoints).
// Levels need both sides on S3 (store.Lister: delimiter listings and
// start-after); the run's first span and the pieces that begin with a
// directory list by levels (levelsPiece).
type span struct {
	prefix string
	kr     KeyRange
	under  string
	levels bool
}

// spanEnd is a span's current end, which a split moves down while both
// sides are listing it.
type spanEnd struct {
	mu    sync.Mutex
	until string
}

func (e *spanEnd) get() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.until
}

func (e *spanEnd) set(until string) {
	e.mu.Lock()
	e.until = until
	e.mu.Unlock()
}

// produceList diffs the origin against the target: one span for the whole
// run, or spans listed r.spans at a time (listers.go).
func (r *run) produceList(ctx context.Context, out chan<- item) error {
	root := span{prefix: r.o.Prefix, kr: r.o.Range}
	if r.spans > 1 {
		root.levels = r.levels
		return r.listConcurrently(ctx, root, out)
	}
	return r.joinSpan(ctx, root, &spanEnd{until: root.kr.Until}, nil, nil, out)
}

// joinSpan merge-joins the origin and target listings of sp. Listings are
// not always in byte order (MinIO puts "a/b" before "a\tb"; fileblob
// orders by escaped file names), so the join is only trusted for what it
// can prove: a key listed on both sides is present. A key the join did not
// find in the target is copied directly when the span's target listing is
// empty, and otherwise checked with one HEAD first (it may sit elsewhere in
// the target listing); create-only writes keep even a wrong guess harmless.
// split, when set, may give the rest of the origin listing away.
func (r *run) joinSpan(ctx context.Context, sp span, end *spanEnd, split splitFunc, sub subFunc, out chan<- item) error {
	r.spansListed.Add(1)
	g, ctx := errgroup.WithContext(ctx)
	lctx, stopListing := context.WithCancel(ctx)
	depth := 4
	if r.spans > 1 {
		depth = 1 // many spans at once: memory stays O(listers)
	}
	oc := make(chan []entry, depth)
	tc := make(chan []entry, depth)
	lister := func(b *store.Bucket, side string, split splitFunc, sub subFunc, ch chan<- []entry) func() error {
		return func() error {
			err := r.list(lctx, b, side, sp, end, split, sub, ch)
			if err != nil && lctx.Err() != nil && ctx.Err() == nil {
				return nil // the join needs no more of this listing
			}
			return err
		}
	}
	g.Go(lister(r.o.Origin, "origin", split, sub, oc))
	g.Go(lister(r.o.Target, "target", nil, nil, tc))
	g.Go(func() error {
		defer stopListing()
		return r.join(ctx, &stream{ch: oc, name: "origin", r: r}, &stream{ch: tc, name: "target", r: r}, out)
	})
	return g.Wait()
}

// join walks the origin stream against the target stream.
func (r *run) join(ctx context.Context, ost, ts *stream, out chan<- item) error {
	t, err := ts.peek(ctx)
	if err != nil {
		return err
	}
	targetEmpty := t == nil
	for {
		o, err := ost.peek(ctx)
		if err != nil || o == nil {
			return err
		}
		if !r.f.matchListed(o.Key) {
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
		r.covered(o.Key)
		it := item{key: o.Key, size: o.Size, md5: o.MD5}
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
		case targetEmpty && r.sameName(o.Key):
			it.act = actCopy
		default:
			it.act = actCheck
		}
		ost.advance()
		if err := send(ctx, out, it); err != nil {
			return err
		}
	}
}

// covered notes that the main pass produced key, which Options.Extra then
// need not add.
func (r *run) covered(key string) {
	if r.pendingExtra == nil {
		return
	}
	r.extraMu.Lock()
	delete(r.pendingExtra, key)
	r.extraMu.Unlock()
}

// sameName reports whether key has the same name in both listings, so that
// an empty target span proves it missing. One span is the whole listing.
func (r *run) sameName(key string) bool {
	return r.spans <= 1 || r.originName(key) == r.targetName(key)
}

// splitFunc is called by a span's origin lister after each page that has
// more after it, with the listing's prefix and the greatest name listed so
// far and the first of the last page (as names) and the span's end; it returns the new end ("" unchanged)
// after handing the rest to other spans.
type splitFunc func(prefix, pageFirst, maxName, until string) string

// subFunc takes a directory of a span with levels: it lists it, or hands
// it to another lister.
type subFunc func(span) error

// list sends the pages of b's listing of sp to out, keeping the keys of sp
// (rangeCursor) and stopping where sp ends; it retries transient errors.
func (r *run) list(ctx context.Context, b *store.Bucket, side string, sp span, end *spanEnd, split splitFunc, sub subFunc, out chan<- []entry) error {
	defer close(out)
	prefix, ok := sp.kr.listPrefix(sp.prefix)
	if !ok {
		return nil
	}
	name := sortKeyOf(b)
	until := end.get()
	sp.kr.Until = until
	cur := newRangeCursor(sp.kr, name(prefix))
	cur.under = sp.under
	var pg pager
	var lp *leanPager
	if sp.levels {
		lp = &leanPager{l: b.Lister(), o: store.ListOptions{Prefix: prefix, Delimiter: "/", StartAfter: levelStart(sp.kr.After, name(prefix))}}
		pg = lp
	} else {
		pg = r.newPager(b, side, prefix, startAfter(sp.kr.After), name)
	}
	var maxName string
	pages := 0
	defer func() {
		r.log.Debug("span listed", "side", side, "range", sp.kr.String(), "prefix", prefix, "pages", pages)
	}()
	for {
		pages++
		var (
			objs []named
			more bool
		)
		err := r.retry(ctx, slog.String("listing", side), func() error {
			var err error
			objs, more, err = pg.page(ctx)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &FatalError{Op: "list " + side, Err: err}
		}
		if u := end.get(); u != until {
			until = u
			cur.setUntil(u)
		}
		kept, done := keepRange(objs, cur, &maxName)
		pageFirst := ""
		if len(objs) > 0 {
			pageFirst = objs[0].name
		}
		if err := sendPage(ctx, out, kept); err != nil {
			return err
		}
		if lp != nil {
			if n := lp.p.PrefixNames; len(n) > 0 && (pageFirst == "" || n[0] < pageFirst) {
				pageFirst = n[0]
			}
			d, err := r.subtrees(&lp.p, cur, sp.prefix, &maxName, sub)
			if err != nil {
				return &FatalError{Op: "list " + side, Err: err}
			}
			done = done || d
		}
		if done || !more {
			return nil
		}
		if split != nil {
			if u := split(name(prefix), pageFirst, maxName, until); u != "" {
				until = u
				cur.setUntil(u)
			}
		}
	}
}

// levelStart is where a listing by levels under prefix (a name) of a range
// after after may start: before the directory of the level that holds
// after, which S3 leaves out of a delimiter listing that starts inside it
// (MinIO does; it lists what comes after "a/b/c" from "a/c/" on), and ""
// when that is the prefix itself.
func levelStart(after, prefix string) string {
	s := startAfter(after)
	if len(s) <= len(prefix) || s[:len(prefix)] != prefix {
		return ""
	}
	if i := strings.IndexByte(s[len(prefix):], '/'); i >= 0 {
		s = s[:len(prefix)+i]
	}
	if len(s) <= len(prefix) {
		return ""
	}
	return s
}

// subtrees hands the directories of a page of a span with levels (under
// prefix) to sub (the target's lister passes none: its directories are the
// origin's to list), notes the greatest name seen, and reports whether the
// listing is done: a directory past the cursor's bound.
func (r *run) subtrees(p *store.ListPage, cur *rangeCursor, prefix string, maxName *string, sub subFunc) (bool, error) {
	for i, n := range p.PrefixNames {
		if len(n) <= len(cur.prefix) || n[:len(cur.prefix)] != cur.prefix {
			return false, fmt.Errorf("a listing under %q gave the directory %q, not under it", cur.prefix, n)
		}
		if cur.stop != "" && n >= cur.stop {
			return true, nil
		}
		*maxName = max(*maxName, n)
		if sub == nil {
			continue
		}
		if s, ok := r.subtree(cur, prefix, p.Prefixes[i], n); ok {
			if err := sub(s); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

// subtree is the span of the keys under directory dir (a key under
// prefix; name is its name in the listing) that the cursor's range holds, false when it holds
// none. A directory whose name is not its key as both sides name it (a
// rare escaped name) cannot be listed under its own prefix: its span lists
// the cursor's range and keeps the names under it.
func (r *run) subtree(cur *rangeCursor, prefix, dir, name string) (span, bool) {
	kr := cur.kr
	if kr.Until != "" && name > kr.Until || kr.After != "" && kr.After >= name && !strings.HasPrefix(kr.After, name) {
		return span{}, false // every name under it is outside kr
	}
	if r.originName(dir) != name || r.targetName(dir) != name {
		return span{prefix: prefix, kr: kr, under: name}, true
	}
	if (kr.After == "" || kr.After < name) && (kr.Until == "" || kr.Until > name && !strings.HasPrefix(kr.Until, name)) {
		kr = KeyRange{} // all of it
	}
	return span{prefix: dir, kr: kr}, true
}

// entry is what the join needs of a listed object: a page of them holds a
// fraction of the driver's objects (which keep the SDK's whole record).
type entry struct {
	Key  string
	Size int64
	MD5  []byte
}

// named is a listed object with the name its store sorts it by.
type named struct {
	entry
	name string
}

// keepRange returns the entries of a page in the cursor's range, notes the
// greatest name seen, and reports whether the listing is done.
func keepRange(objs []named, cur *rangeCursor, maxName *string) ([]entry, bool) {
	kept := make([]entry, 0, len(objs))
	for i := range objs {
		n := objs[i].name
		keep, done := cur.next(n)
		if done {
			return kept, true
		}
		*maxName = max(*maxName, n)
		if keep {
			kept = append(kept, objs[i].entry)
		}
	}
	return kept, false
}

func sendPage(ctx context.Context, out chan<- []entry, objs []entry) error {
	if len(objs) == 0 {
		return nil
	}
	select {
	case out <- objs:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A pager fetches a listing page by page: page returns the next page's
// objects (valid until the next call) and whether more follow; after an
// error the same page is fetched again.
type pager interface {
	page(ctx context.Context) ([]named, bool, error)
}

// newPager lists the keys under prefix, from after start (a name) where
// the store can start there: with the bucket's lean S3 listing when it has
// one (store.Lister), a local directory with one walk (store.DirLister),
// else with the bucket's ListPage. A directory it cannot read is logged
// as the listing of side.
func (r *run) newPager(b *store.Bucket, side, prefix, start string, name func(string) string) pager {
	if start != "" && start <= name(prefix) {
		start = ""
	}
	if l := b.Lister(); l != nil {
		return &leanPager{l: l, o: store.ListOptions{Prefix: prefix, StartAfter: start}}
	}
	if l := b.NewDirLister(prefix, start); l != nil {
		l.Skipped = func(path string, err error) { r.unlisted(side, path, err) }
		return &dirPager{l: l, name: name}
	}
	var gc *storage.Client
	return &blobPager{b: b, name: name, token: blob.FirstPageToken, everyPage: b.As(&gc),
		opts: &blob.ListOptions{Prefix: prefix, BeforeList: startAfterHook(start, name(prefix))}}
}

// unlisted notes what a directory listing of side could not list: a
// directory it cannot read, or a file or directory whose name no key reads
// (store.UnreadableNameError). Each is a warning; on the origin side it is
// also counted (once: Stats.Unlisted, which leaves the run incomplete),
// when it is this run's: within its range and filters (a name other runs'
// listings pass is theirs).
func (r *run) unlisted(side, path string, err error) {
	var ue *store.UnreadableNameError
	named := errors.As(err, &ue)
	if named && (!r.o.Range.Contains(ue.Name) || !r.f.matchListed(ue.Key)) {
		return
	}
	if named {
		r.log.Warn("file name holds an escape no key reads; it is left out of the listing: rename it to migrate it", "side", side, "path", path, "error", err)
	} else {
		r.log.Warn("directory could not be read; its objects are left out of the listing", "side", side, "path", path, "error", err)
	}
	if side == "origin" {
		r.t.unlisted(path)
	}
}

// leanPager lists with one signed request a page (store.Lister), whose
// answer names each key as S3 stores it.
type leanPager struct {
	l     *store.Lister
	o     store.ListOptions
	token string
	p     store.ListPage
	buf   []named
}

func (p *leanPager) page(ctx context.Context) ([]named, bool, error) {
	if err := p.l.List(ctx, p.token, &p.o, &p.p); err != nil {
		return nil, false, err
	}
	p.buf = p.buf[:0]
	for i := range p.p.Objects {
		o := &p.p.Objects[i]
		p.buf = append(p.buf, named{entry{Key: o.Key, Size: o.Size, MD5: o.MD5}, o.Name})
	}
	p.token = p.p.Next
	return p.buf, p.token != "", nil
}

// blobPager lists through the bucket (gocloud's drivers).
type blobPager struct {
	b         *store.Bucket
	opts      *blob.ListOptions
	token     []byte
	name      func(string) string
	buf       []named
	everyPage bool // the BeforeList hook applies to every page (GCS), not only the first
}

func (p *blobPager) page(ctx context.Context) ([]named, bool, error) {
	objs, next, err := p.b.ListPage(ctx, p.token, listPageSize, p.opts)
	if err != nil {
		return nil, false, err
	}
	p.buf = p.buf[:0]
	for _, o := range objs {
		if !o.IsDir {
			p.buf = append(p.buf, named{entry{Key: o.Key, Size: o.Size, MD5: o.MD5}, p.name(o.Key)})
		}
	}
	p.token = next
	if !p.everyPage {
		p.opts.BeforeList = nil // start-after only on the first page
	}
	return p.buf, len(next) > 0, nil
}

// dirPager lists a local directory in one walk, in byte order of its file
// names (store.DirLister).
type dirPager struct {
	l    *store.DirLister
	name func(string) string
	buf  []named
}

func (p *dirPager) page(ctx context.Context) ([]named, bool, error) {
	objs, more, err := p.l.Next(ctx, listPageSize)
	if err != nil {
		return nil, false, err
	}
	p.buf = p.buf[:0]
	for i := range objs {
		o := &objs[i]
		p.buf = append(p.buf, named{entry{Key: o.Key, Size: o.Size, MD5: o.MD5}, p.name(o.Key)})
	}
	return p.buf, more, nil
}

// startAfterHook makes an S3 listing start after name (the rest of the
// listing's prefix, prefix, is already in the request, after the prefix of
// a bucket URL), and a GCS listing at it (startOffset, which includes name
// itself: the cursor leaves it out, as it leaves out what other drivers
// list from the start of the prefix). GCS takes the offset with every page
// (the storage client's own iterator sends its query with each page
// token); S3 only the first page.
func startAfterHook(name, prefix string) func(func(any) bool) error {
	if name == "" || name <= prefix {
		return nil
	}
	return func(as func(any) bool) error {
		var q *storage.Query
		if as(&q) {
			if strings.HasSuffix(q.Prefix, prefix) {
				q.StartOffset = q.Prefix[:len(q.Prefix)-len(prefix)] + name
			}
			return nil
		}
		var in *s3.ListObjectsV2Input
		if as(&in) && in.ContinuationToken == nil {
			if p := aws.ToString(in.Prefix); strings.HasSuffix(p, prefix) {
				in.StartAfter = aws.String(p[:len(p)-len(prefix)] + name)
			}
			return nil
		}
		var legacy *s3.ListObjectsInput
		if as(&legacy) && legacy.Marker == nil {
			if p := aws.ToString(legacy.Prefix); strings.HasSuffix(p, prefix) {
				legacy.Marker = aws.String(p[:len(p)-len(prefix)] + name)
			}
		}
		return nil
	}
}

// stream is one side of the merge-join.
type stream struct {
	ch      <-chan []entry
	page    []entry
	i       int
	prev    string
	started bool
	done    bool
	name    string
	r       *run
}

// peek returns the current entry (nil at the end) without consuming it.
func (s *stream) peek(ctx context.Context) (*entry, error) {
	for !s.done {
		if s.i < len(s.page) {
			return &s.page[s.i], nil
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

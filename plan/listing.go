package plan

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"
)

// Listing a plan: prefixes are discovered with delimiter listings (a few
// levels deep, until there are enough to keep every lister busy), then each
// prefix is listed whole, Listers at a time. What a listing sees is kept as
// chunks (a key range with its objects and bytes), never as keys, so memory
// is O(chunks): each lister merges neighbouring chunks once it holds
// maxChunks, and the partitions are cut at chunk boundaries.
const (
	chunkKeys      = 16      // keys per chunk at first
	maxChunks      = 2048    // chunks one lister keeps before merging pairs
	maxAllChunks   = 1 << 16 // chunks kept from all listings before merging neighbours
	discoverLevels = 3       // delimiter levels explored at most
	listPage       = 1000
)

// chunk is what a listing saw of the keys in [first, last].
type chunk struct {
	first, last string
	work        scan.Workload
}

// chunks is one listing's chunks, in listing order, merged pairwise when
// they grow too many.
type chunks struct {
	list []chunk
	size int64 // objects per chunk
	cur  *chunk
}

func newChunks() *chunks { return &chunks{size: chunkKeys} }

// add counts one object.
func (c *chunks) add(key string, size int64) {
	if c.cur == nil || c.cur.work.Objects >= c.size {
		c.cut()
		c.cur = &chunk{first: key, last: key}
	}
	c.cur.first, c.cur.last = min(c.cur.first, key), max(c.cur.last, key)
	c.cur.work.Add(size)
}

// cut ends the current chunk (a prefix that sorts inside it comes next).
func (c *chunks) cut() {
	if c.cur == nil {
		return
	}
	// A listed key may share its memory with its whole page (store.Lister
	// builds a page's keys in one string): a chunk keeps copies.
	c.cur.first, c.cur.last = strings.Clone(c.cur.first), strings.Clone(c.cur.last)
	c.list = append(c.list, *c.cur)
	c.cur = nil
	if len(c.list) < maxChunks {
		return
	}
	merged := c.list[:0]
	for i := 0; i < len(c.list); i += 2 {
		m := c.list[i]
		if i+1 < len(c.list) {
			n := c.list[i+1]
			m.first, m.last = min(m.first, n.first), max(m.last, n.last)
			m.work.Merge(n.work)
		}
		merged = append(merged, m)
	}
	c.list, c.size = merged, c.size*2
}

func (c *chunks) done() []chunk { c.cut(); return c.list }

// FromOrigin returns a builder of a range plan of the listable origin b
// (source names it in the plan, without secrets).
func FromOrigin(b *store.Bucket, source string, o Options) func(context.Context, *State) (*Plan, error) {
	return func(ctx context.Context, _ *State) (*Plan, error) {
		if err := o.check(); err != nil {
			return nil, err
		}
		start := time.Now()
		l := &lister{b: b, limit: o.Listers, log: o.Logger}
		prefixes, err := l.discover(ctx, o.Prefix)
		if err != nil {
			return nil, err
		}
		if err := l.listAll(ctx, prefixes); err != nil {
			return nil, err
		}
		p := &Plan{Version: Version, Kind: KindList, Source: source, Prefix: o.Prefix, Created: time.Now().UTC(),
			ListSeconds: time.Since(start).Seconds()}
		p.Partitions, p.Totals = cutRanges(l.all, &o)
		return p, nil
	}
}

// lister lists one origin for a plan.
type lister struct {
	b     *store.Bucket
	limit int
	log   *slog.Logger // nil: what a directory listing leaves out is not told
	mu    sync.Mutex
	all   []chunk
}

// keep adds a listing's chunks. Past maxAllChunks (many small prefixes)
// neighbours in key order are merged: the listings' chunks do not overlap,
// so a merged chunk holds exactly the keys of the two.
func (l *lister) keep(c []chunk) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, c...)
	if len(l.all) <= maxAllChunks {
		return
	}
	sortChunks(l.all)
	merged := l.all[:0]
	for i := 0; i < len(l.all); i += 2 {
		m := l.all[i]
		if i+1 < len(l.all) {
			n := l.all[i+1]
			m.last = max(m.last, n.last)
			m.work.Merge(n.work)
		}
		merged = append(merged, m)
	}
	l.all = merged
}

func sortChunks(all []chunk) {
	slices.SortFunc(all, func(a, b chunk) int { return strings.Compare(a.first, b.first) })
}

// discover lists prefix with a delimiter, level after level, counting the
// objects it meets, and returns the prefixes still to be listed whole.
func (l *lister) discover(ctx context.Context, prefix string) ([]string, error) {
	level := []string{prefix}
	for depth := 0; depth < discoverLevels && len(level) > 0 && len(level) < 4*l.limit; depth++ {
		var (
			mu   sync.Mutex
			next []string
		)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(l.limit)
		for _, p := range level {
			g.Go(func() error {
				dirs, err := l.listLevel(gctx, p)
				mu.Lock()
				next = append(next, dirs...)
				mu.Unlock()
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		level = next
	}
	return level, nil
}

// listLevel lists the objects directly under p into chunks (cut wherever a
// sub-prefix sorts between them) and returns the sub-prefixes.
func (l *lister) listLevel(ctx context.Context, p string) ([]string, error) {
	var dirs []string
	c := newChunks()
	err := l.pages(ctx, &blob.ListOptions{Prefix: p, Delimiter: "/"}, func(key string, size int64, dir bool) {
		if dir {
			dirs = append(dirs, key)
			c.cut()
			return
		}
		c.add(key, size)
	})
	l.keep(c.done())
	return dirs, err
}

// listAll lists every prefix whole, limit at a time.
func (l *lister) listAll(ctx context.Context, prefixes []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.limit)
	for _, p := range prefixes {
		g.Go(func() error {
			c := newChunks()
			err := l.pages(gctx, &blob.ListOptions{Prefix: p}, func(key string, size int64, dir bool) {
				if !dir {
					c.add(key, size)
				}
			})
			l.keep(c.done())
			return err
		})
	}
	return g.Wait()
}

// pages calls f for every entry of a listing in key order (dir: a common
// prefix), retrying a transient error of a page a few times. An S3 bucket
// with a lean listing (store.Lister) lists through it, a local directory
// with one walk (store.DirLister).
func (l *lister) pages(ctx context.Context, opts *blob.ListOptions, f func(key string, size int64, dir bool)) error {
	page := l.blobPage(opts)
	if sl := l.b.Lister(); sl != nil {
		page = leanPage(sl, opts)
	} else if dl := l.b.NewDirLister(opts.Prefix, ""); dl != nil && (opts.Delimiter == "" || opts.Delimiter == "/") {
		dl.Level = opts.Delimiter != ""
		if l.log != nil {
			dl.Skipped = func(path string, err error) {
				l.log.Warn("left out of the plan: the origin's listing cannot list it, and scan will report it", "path", path, "error", err)
			}
		}
		page = dirPage(dl)
	}
	token := blob.FirstPageToken
	for {
		var (
			next []byte
			err  error
		)
		for attempt := 0; ; attempt++ {
			next, err = page(ctx, token, f)
			if err == nil || attempt == 3 || !store.IsTemporary(err) {
				break
			}
			select {
			case <-time.After(time.Duration(200<<attempt) * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return fmt.Errorf("list %q: %w", opts.Prefix, err)
		}
		if len(next) == 0 {
			return nil
		}
		token = next
	}
}

// pageFunc lists the page at token, calls f for its entries and returns
// the next token (empty after the last page); on an error it calls f for
// none.
type pageFunc func(ctx context.Context, token []byte, f func(string, int64, bool)) ([]byte, error)

func (l *lister) blobPage(opts *blob.ListOptions) pageFunc {
	return func(ctx context.Context, token []byte, f func(string, int64, bool)) ([]byte, error) {
		objs, next, err := l.b.ListPage(ctx, token, listPage, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			f(o.Key, o.Size, o.IsDir)
		}
		return next, nil
	}
}

// dirPage lists a local directory with dl; its page token only says that
// more follow.
func dirPage(dl *store.DirLister) pageFunc {
	return func(ctx context.Context, _ []byte, f func(string, int64, bool)) ([]byte, error) {
		objs, more, err := dl.Next(ctx, listPage)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			f(o.Key, o.Size, o.IsDir)
		}
		if more {
			return []byte("more"), nil
		}
		return nil, nil
	}
}

// leanPage lists with sl, merging a page's objects and common prefixes in
// key order as the bucket's ListPage does.
func leanPage(sl *store.Lister, opts *blob.ListOptions) pageFunc {
	o := &store.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter}
	var p store.ListPage
	started := false // a token is one S3 gave, not blob.FirstPageToken
	return func(ctx context.Context, token []byte, f func(string, int64, bool)) ([]byte, error) {
		t := ""
		if started {
			t = string(token)
		}
		if err := sl.List(ctx, t, o, &p); err != nil {
			return nil, err
		}
		started = true
		i, j := 0, 0
		for i < len(p.Objects) || j < len(p.Prefixes) {
			if j == len(p.Prefixes) || i < len(p.Objects) && p.Objects[i].Key < p.Prefixes[j] {
				f(p.Objects[i].Key, p.Objects[i].Size, false)
				i++
			} else {
				f(p.Prefixes[j], 0, true)
				j++
			}
		}
		return []byte(p.Next), nil
	}
}

// cutRanges sorts the chunks and cuts them into ranges of about
// o.perPartition objects; the ranges cover the whole key space.
func cutRanges(all []chunk, o *Options) ([]Partition, scan.Workload) {
	sortChunks(all)
	var total scan.Workload
	for _, c := range all {
		total.Merge(c.work)
	}
	per := o.perPartition(total.Objects)
	parts := []Partition{{}}
	var seen int64
	for i, c := range all {
		cur := &parts[len(parts)-1]
		cur.Work.Merge(c.work)
		seen += c.work.Objects
		// Cut at the cumulative targets, so a big chunk does not shift
		// every later boundary.
		if seen >= int64(len(parts))*per && i < len(all)-1 && c.last > cur.After {
			cur.Until = c.last
			parts = append(parts, Partition{Index: len(parts), After: c.last})
		}
	}
	return parts, total
}

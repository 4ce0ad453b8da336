package serve

import (
	"context"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// A listing is a streaming merge-join of sorted sources: the target, and
// for each rule with a listable origin (its first origin is a bucket URL,
// no replace_key_with) that origin's keys under the rule's key_prefix,
// mapped back to the keys clients request. Each source holds one page (at
// most 1000 entries) at a time, so memory is O(sources), never O(keys). A
// key in more than one source is listed once, from the target when it has it (its
// size and ETag are what a GET answers). An origin key is listed only when
// the rules would fill it from that rule (the first matching rule is this
// one, with the listing request's headers), and the key is one serve takes
// and the rule can fetch (rules.OriginRequest refuses empty and dot segments).
//
// Listings are not always in byte order (a directory target lists "a//b"
// before "a b"; MinIO lists "a/b" before "a\tb"),
// so the join does not rely on it to drop duplicates: an origin key that the
// target's current page holds is dropped wherever it sits in that page.

// maxListPage is the largest page S3 lists (and so max-keys' limit).
const maxListPage = 1000

// listPage is one answer: its entries (objects and common prefixes, in
// order) and the token of the next page ("" when the listing is over).
type listPage struct {
	entries []*blob.ListObject
	next    string
}

// lister merges the sources of one listing request.
type lister struct {
	srcs  []*source // srcs[0] is the target
	after string    // start-after / key marker: only keys after it
}

// newLister builds the sources of a listing request: the target, then the
// listable origins of the rules in effect, each resumed from the request's
// continuation token.
func (s *Server) newLister(r *http.Request, lq listQuery) (*lister, error) {
	tok, err := decodeListToken(lq.token)
	if err != nil {
		return nil, errBadToken
	}
	l := &lister{after: lq.after}
	// Every source is read in full pages whatever max-keys is (one request
	// either way, and the next answer resumes inside the page): the target's
	// page is the window in which origin keys it holds are dropped however
	// the listings order them, and fileblob, which pages by byte order but
	// lists in the order of its file names, loses no key within a page.
	target := &source{id: "t", b: s.opts.Target, opts: blob.ListOptions{Prefix: lq.prefix, Delimiter: lq.delimiter}}
	l.srcs = append(l.srcs, target)
	st := s.settings.Load()
	if s.opts.Mirror != nil && st.Rules != nil {
		hdr := r.Header.Clone()
		hdr.Set("Host", r.Host)
		for i := range st.Rules.Rules {
			src, err := s.originSource(r.Context(), st.Rules, i, hdr, lq)
			if err != nil {
				return nil, err
			}
			if src != nil {
				src.dup = target.has
				l.srcs = append(l.srcs, src)
			}
		}
	}
	for _, src := range l.srcs {
		src.pos = tok[src.id]
	}
	return l, nil
}

// originSource returns the source of rule i's origin for this listing, or
// nil when the rule has no listable origin or no key under the requested
// prefix.
func (s *Server) originSource(ctx context.Context, set *rules.Set, i int, hdr http.Header, lq listQuery) (*source, error) {
	r := &set.Rules[i]
	origins := r.Origins()
	if len(origins) == 0 || !origins[0].IsBucket() || r.ReplaceKeyWith != "" {
		return nil, nil
	}
	from := r.KeyPrefix // the origin key for key KeyPrefix+rest is from+rest
	if r.ReplaceKeyPrefixWith != "" {
		from = r.ReplaceKeyPrefixWith
	}
	src := &source{from: from, to: r.KeyPrefix, opts: blob.ListOptions{Delimiter: lq.delimiter}}
	switch {
	case strings.HasPrefix(lq.prefix, r.KeyPrefix):
		src.opts.Prefix = from + lq.prefix[len(r.KeyPrefix):]
	case strings.HasPrefix(r.KeyPrefix, lq.prefix):
		src.opts.Prefix = from
		// The rule's prefix holds a delimiter past the requested prefix:
		// all its keys fall in one common prefix.
		if d := lq.delimiter; d != "" {
			if j := strings.Index(r.KeyPrefix[len(lq.prefix):], d); j >= 0 {
				src.collapse = r.KeyPrefix[:len(lq.prefix)+j+len(d)]
			}
		}
	default:
		return nil, nil
	}
	b, err := s.opts.Mirror.OriginBucket(ctx, origins[0].URL)
	if err != nil {
		return nil, &apiError{http.StatusFailedDependency, "MirrorFailed", "The origin of back-to-origin rule " + strconv.Itoa(i+1) + " could not be listed.", err}
	}
	src.b = b
	src.id = originID(i, origins[0].URL)
	src.keep = func(key string) bool {
		if j, _ := set.MatchRequest(key, hdr); j != i || store.CheckKey(key) != nil {
			return false
		}
		_, err := rules.OriginRequest(r, key, hdr, "") // a key the rule refuses to fetch
		return err == nil
	}
	return src, nil
}

// originID names rule i's origin in continuation tokens without spelling
// out its URL.
func originID(i int, rawURL string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(rawURL))
	return "o" + strconv.Itoa(i) + "-" + strconv.FormatUint(uint64(h.Sum32()), 36)
}

// run lists up to maxKeys entries and the token to go on from.
func (l *lister) run(ctx context.Context, maxKeys int) (listPage, error) {
	var p listPage
	if maxKeys == 0 {
		return p, nil
	}
	for {
		best, err := l.smallest(ctx)
		if err != nil || best == nil {
			return p, err
		}
		if len(p.entries) == maxKeys {
			p.next, err = encodeListToken(l.positions())
			return p, err
		}
		key := best.Key
		p.entries = append(p.entries, best)
		for _, src := range l.srcs {
			if e, _ := src.peek(ctx, l.after); e != nil && e.Key == key {
				src.advance()
			}
		}
	}
}

// smallest returns the entry that comes next: the smallest head of the
// sources (the first source's on a tie), nil when all are done.
func (l *lister) smallest(ctx context.Context) (*blob.ListObject, error) {
	var best *blob.ListObject
	for _, src := range l.srcs {
		e, err := src.peek(ctx, l.after)
		if err != nil {
			return nil, err
		}
		if e != nil && (best == nil || e.Key < best.Key) {
			best = e
		}
	}
	return best, nil
}

// positions is where each source goes on in the next page.
func (l *lister) positions() map[string]srcPos {
	m := make(map[string]srcPos, len(l.srcs))
	for _, src := range l.srcs {
		m[src.id] = src.pos
	}
	return m
}

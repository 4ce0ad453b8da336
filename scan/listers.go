package scan

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// DefaultListers is how many spans of the key space are listed at once
// when both sides are remote: a no-op diff of a large bucket is all list
// requests, and 32 in flight hide a page time of 20-100 ms. A local
// directory lists from its root on every page, so with one the default is 1.
const DefaultListers = 32

// Partitioned listing
//
// listConcurrently starts with one span (the run's prefix and range) and
// splits it while it runs: after each page that has more after it, a span's
// origin lister that sees listers waiting for work cuts the rest of its
// range, (greatest name listed, end], at splitPoints, keeps the first piece
// and queues the others. Every span is listed on both sides and
// merge-joined on its own, exactly as a single listing is, so the
// out-of-order handling holds per span; spans are consecutive ranges, so
// every key is listed once (see KeyRange). Blind cuts may fall where there
// are no keys; such a span costs one request per side and its lister is
// soon cutting another, so within a few page times every lister holds a
// span with keys. Memory is O(listers): each span holds about two pages per
// side.

// spanQueue hands spans to listers and knows when all are done.
type spanQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	pending []span
	active  int // spans being listed
	waiting int // listers without a span
	stopped bool
}

func newSpanQueue(ctx context.Context, root span) (*spanQueue, func() bool) {
	q := &spanQueue{pending: []span{root}}
	q.cond = sync.NewCond(&q.mu)
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.stopped = true
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	return q, stop
}

// take returns the next span, or false when every span is done (or the
// run stopped).
func (q *spanQueue) take() (span, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting++
	defer func() { q.waiting-- }()
	for len(q.pending) == 0 && q.active > 0 && !q.stopped {
		q.cond.Wait()
	}
	if len(q.pending) == 0 || q.stopped {
		q.cond.Broadcast() // the others are done too
		return span{}, false
	}
	sp := q.pending[0]
	q.pending = q.pending[1:]
	q.active++
	return sp, true
}

func (q *spanQueue) done() {
	q.mu.Lock()
	q.active--
	q.cond.Broadcast()
	q.mu.Unlock()
}

// wanted is how many more spans would find a lister now.
func (q *spanQueue) wanted() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting - len(q.pending)
}

// pendingLen is how many spans wait for a lister.
func (q *spanQueue) pendingLen() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

func (q *spanQueue) push(sps []span) {
	q.mu.Lock()
	q.pending = append(q.pending, sps...)
	q.cond.Broadcast()
	q.mu.Unlock()
}

// listConcurrently lists root as spans, r.spans at a time.
func (r *run) listConcurrently(ctx context.Context, root span, out chan<- item) error {
	g, ctx := errgroup.WithContext(ctx)
	q, stop := newSpanQueue(ctx, root)
	defer stop()
	for range r.spans {
		g.Go(func() error {
			for {
				sp, ok := q.take()
				if !ok {
					return nil
				}
				err := r.joinQueued(ctx, q, sp, out)
				q.done()
				if err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// joinQueued joins sp with a splitter and, for a span with levels, a
// subFunc that queues each directory for the listers, or lists it in place
// while the queue already holds two spans a lister (memory stays
// O(listers) however many directories a level has).
func (r *run) joinQueued(ctx context.Context, q *spanQueue, sp span, out chan<- item) error {
	end := &spanEnd{until: sp.kr.Until}
	var sub subFunc
	if sp.levels {
		sub = func(d span) error {
			if q.pendingLen() < 2*r.spans {
				q.push([]span{d})
				return nil
			}
			return r.joinQueued(ctx, q, d, out)
		}
	}
	return r.joinSpan(ctx, sp, end, q.splitter(sp, end, r.levels), sub, out)
}

// splitter returns the splitFunc of sp's origin lister. With levels, the
// pieces of a span with levels have levels too, and so do the pieces of
// others that begin with a directory (see levelsPiece).
func (q *spanQueue) splitter(sp span, end *spanEnd, levels bool) splitFunc {
	return func(prefix, pageFirst, maxName, until string) string {
		n := q.wanted()
		if n <= 0 || sp.under != "" {
			return "" // a span kept to one directory's names is not cut: its pieces would not be
		}
		lo := max(maxName, prefix, sp.kr.After)
		if until != "" && lo >= until {
			return "" // what is left is past the end: nothing to give away
		}
		pts := splitPoints(lo, until, prefix, commonPrefix(pageFirst, lo), n)
		if len(pts) == 0 {
			return ""
		}
		sps := make([]span, len(pts))
		for i, p := range pts {
			next := until
			if i+1 < len(pts) {
				next = pts[i+1]
			}
			sps[i] = span{prefix: sp.prefix, kr: KeyRange{After: p, Until: next}}
			sps[i].levels = levels && (sp.levels || levelsPiece(p, lo, commonPrefix(pageFirst, lo)))
		}
		end.set(pts[0])
		q.push(sps)
		return pts[0]
	}
}

// levelsPiece reports whether the piece cut at pt (pt's last byte but one
// is the cut position) holds directories bigger than a page, guessed from
// the last page (whose names share shared, and lo the greatest): lo's byte
// after the cut position is a "/" and the whole page was in that
// directory. Such a piece listed without levels would be one directory
// listed from end to end, as no cut goes past a "/"; listed with levels it
// hands each directory out as a span of its own, cut by its own listing.
func levelsPiece(pt, lo, shared string) bool {
	p := len(pt) - 2
	return p >= 0 && pt[p+1] == '~' && len(shared) >= p+2 && pt[:p] == lo[:p] && lo[p+1] == '/'
}

// splitPoints returns up to n names between lo and hi ("" : open) that cut
// (lo, hi] into consecutive ranges at one position after prefix, each range
// starting with a chunk of keys (those with the same byte there). A cut
// just below chunk c is lo's bytes up to the position, c-1 and "~": its
// stopBound is chunk c, and a listing after it starts at chunk c, so no
// chunk is listed twice.
//
// Where the keys are is guessed from the last page, whose names share
// varied: the cuts go to the deepest position within that shared part
// (and within the plain run after prefix, so that bounds stay tight) where
// the bytes of lo's class (digits, upper or lower case letters) after lo's
// leave room, one chunk per byte up to the end of the class; cuts left over
// go to the positions before it in turn (shallower), and the last range takes
// the rest. Without such a position the cuts spread over every plain
// byte at the first position that leaves room. No cut goes past the first
// non-plain byte after prefix (a "/"): the span being cut could not stop
// before the end of that directory anyway (see stopBound).
func splitPoints(lo, hi, prefix, shared string, n int) []string {
	if len(lo) < len(prefix) || lo[:len(prefix)] != prefix {
		lo = prefix
	}
	end := len(prefix)
	for end < len(lo) && plainByte(lo[end]) {
		end++
	}
	for p := min(max(len(shared), len(prefix)), end-1); p >= len(prefix); p-- {
		if first, last := classOf(lo[p]); first != 0 {
			if pts := cutsAt(lo, hi, p, last, n); len(pts) > 0 {
				return shallower(pts, lo, hi, prefix, p, n)
			}
		}
	}
	for p := len(prefix); p < end; p++ {
		if pts := cutsAt(lo, hi, p, 0x7e, n); len(pts) > 0 {
			return pts
		}
	}
	return nil
}

// shallower spends what is left of n after the cuts at position p on the
// positions before it, each from lo's byte there to the end of its class:
// the last range at p would otherwise take all the rest (a run that starts
// in t00/ of t00/ ... t63/ would hand out t01 ... t09 and keep t1 ... t6 in
// one span, to be peeled a decade a page time).
func shallower(pts []string, lo, hi, prefix string, p, n int) []string {
	for q := p - 1; q >= len(prefix) && len(pts) < n; q-- {
		if first, last := classOf(lo[q]); first != 0 {
			for _, pt := range cutsAt(lo, hi, q, last, n-len(pts)) {
				if pt > pts[len(pts)-1] {
					pts = append(pts, pt)
				}
			}
		}
	}
	return pts
}

// classOf returns the first and last byte of c's class, or 0, 0.
func classOf(c byte) (byte, byte) {
	switch {
	case '0' <= c && c <= '9':
		return '0', '9'
	case 'A' <= c && c <= 'Z':
		return 'A', 'Z'
	case 'a' <= c && c <= 'z':
		return 'a', 'z'
	}
	return 0, 0
}

// cutsAt returns up to n cuts below the chunks at position p of lo after
// lo's byte there, up to byte last, that lie between lo and hi.
func cutsAt(lo, hi string, p int, last byte, n int) []string {
	a := -1
	if p < len(lo) {
		a = int(lo[p])
	}
	first, stop := max(a+1, 0x31), int(last)
	if hi != "" && len(hi) > p && hi[:p] == lo[:p] {
		stop = min(stop, int(hi[p]))
	}
	if first > stop {
		return nil
	}
	k := min(n, stop-first+1)
	pts := make([]string, 0, k)
	for i := range k {
		c := first + i*(stop-first+1)/k
		pt := lo[:p] + string(byte(c-1)) + "~"
		if pt > lo && (hi == "" || pt < hi) && (len(pts) == 0 || pt > pts[len(pts)-1]) {
			pts = append(pts, pt)
		}
	}
	return pts
}

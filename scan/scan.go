package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
)

// Defaults tuned for S3-compatible targets on a fast network.
const (
	DefaultTransfers = 64
	DefaultCheckers  = 16
	DefaultRetries   = 3
	listPageSize     = 1000
	maxListPageSize  = 16 * listPageSize
	// bytesInFlight bounds the listed bytes of the objects being copied at
	// once: on top of --transfers, large objects are copied a few at a time.
	// Measured on MinIO (2 cores): 200 x 8 MiB took 1.35 s with 8 in flight
	// and 2.2 s with 32, which also needed 550 MB of RSS.
	bytesInFlight = 64 << 20
)

type action uint8

const (
	actCopy   action = iota // missing in the target: copy
	actCheck                // maybe missing: check the target, copy when absent
	actVerify               // present in both: compare content
)

// item is one key on its way through the pipeline.
type item struct {
	act   action
	key   string
	size  int64 // -1 unknown
	md5   []byte
	seq   int64 // key lists: entry number, for the checkpoint
	track trackEntry
	extra bool // a key from Options.Extra
}

// run is the state of one Run.
type run struct {
	o    Options
	f    *filter
	cp   *copier
	log  *slog.Logger
	mode string

	listed, listedBytes, copied, copiedBytes, skipped, skippedBytes atomic.Int64
	missing, failed, vanished, sizeMismatch, contentDiffer          atomic.Int64
	verified, outOfOrder, checks, extraPresent, retries, lostRace   atomic.Int64
	listingDone                                                     atomic.Bool
	// pendingExtra holds the Options.Extra keys the main pass has not
	// produced yet; only the producer goroutine touches it.
	pendingExtra        map[string]bool
	consecutiveFailures atomic.Int64

	mu     sync.Mutex
	result Result // samples only

	man     *manifest
	trk     *tracker
	cpPath  string
	resumed int64
}

// Run copies what the target lacks from the source described by o. It
// returns the result and a nil error when the run finished, even with
// per-key failures (see Result.Complete); a *FatalError, a *LineError or
// the context's error when it stopped early. Failed keys are written to a
// manifest in o.StateDir/scan.
func Run(ctx context.Context, o Options) (*Result, error) {
	r, err := newRun(o)
	if err != nil {
		return nil, err
	}
	return r.execute(ctx)
}

func newRun(o Options) (*run, error) {
	if o.Target == nil {
		return nil, errors.New("scan: no target")
	}
	mode := "list"
	switch {
	case o.Keys != nil:
		mode = "keys"
		if o.Origin == nil && (o.Rules == nil || o.Filler == nil) {
			return nil, errors.New("scan: a key list needs an origin bucket or rules to fetch through")
		}
	case o.Origin == nil:
		return nil, errors.New("scan: no origin and no key list")
	}
	if o.Transfers <= 0 {
		o.Transfers = DefaultTransfers
	}
	if o.Checkers <= 0 {
		o.Checkers = DefaultCheckers
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 200 * time.Millisecond
	}
	if o.Progress == nil {
		o.Progress = NoProgress{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Samples <= 0 {
		o.Samples = 10
	}
	f, err := newFilter(&o)
	if err != nil {
		return nil, err
	}
	r := &run{o: o, f: f, log: o.Logger, mode: mode}
	if len(o.Extra) > 0 {
		r.pendingExtra = make(map[string]bool, len(o.Extra))
		for _, k := range o.Extra {
			r.pendingExtra[k] = true
		}
	}
	r.cp = &copier{src: o.Origin, dst: o.Target, direct: o.Target.Direct(), types: o.ContentTypes}
	if o.BWLimit > 0 {
		burst := min(o.BWLimit, 256<<10)
		r.cp.bw = rate.NewLimiter(rate.Limit(o.BWLimit), int(burst))
	}
	if o.MaxRPS > 0 {
		r.cp.rps = rate.NewLimiter(rate.Limit(o.MaxRPS), max(1, int(o.MaxRPS/10)))
	}
	r.man = &manifest{}
	if o.StateDir != "" && !o.DryRun {
		r.man.dir = filepath.Join(o.StateDir, "scan")
		if o.RunID != "" {
			r.cpPath = checkpointPath(o.StateDir, o.RunID)
		}
	}
	r.result.Mode = mode
	r.result.DryRun = o.DryRun
	return r, nil
}

func (r *run) execute(ctx context.Context) (*Result, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var keysFrom int64
	if r.mode == "keys" {
		n, err := r.prepareKeys()
		if err != nil {
			return nil, err
		}
		keysFrom = n
	}
	r.trk = newTracker(keysFrom)

	// Progress and checkpoints, a few times per second.
	tick := make(chan struct{})
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-tick:
				return
			case <-t.C:
				r.o.Progress.Update(r.stats())
				if n++; n%10 == 0 {
					r.saveCheckpoint()
				}
			}
		}
	}()

	err := r.pipeline(ctx)
	close(tick)
	<-tickDone

	interrupted := err != nil
	if r.cpPath != "" {
		if interrupted {
			r.saveCheckpoint() // syncs the manifest first
		} else {
			_ = os.Remove(r.cpPath)
		}
	}
	if cerr := r.man.close(); cerr != nil && err == nil {
		err = fmt.Errorf("failure manifest: %w", cerr)
	}
	st := r.stats()
	st.Final = true
	st.ListingDone = true
	r.o.Progress.Update(st)

	res := r.result
	res.Stats = st
	res.Duration = time.Since(start)
	res.Seconds = res.Duration.Seconds()
	res.Manifest = r.man.path
	res.Resumed = r.resumed
	if err != nil {
		return &res, err
	}
	return &res, nil
}

func (r *run) stats() Stats {
	return Stats{
		Listed: r.listed.Load(), ListedBytes: r.listedBytes.Load(), ListingDone: r.listingDone.Load(),
		Copied: r.copied.Load(), CopiedBytes: r.copiedBytes.Load(),
		Skipped: r.skipped.Load(), SkippedBytes: r.skippedBytes.Load(),
		Missing: r.missing.Load(), Failed: r.failed.Load(), Vanished: r.vanished.Load(),
		SizeMismatch: r.sizeMismatch.Load(), ContentDiffer: r.contentDiffer.Load(),
		Verified: r.verified.Load(), LostRace: r.lostRace.Load(), Retries: r.retries.Load(), OutOfOrder: r.outOfOrder.Load(), Checks: r.checks.Load(),
	}
}

func (r *run) saveCheckpoint() {
	if r.cpPath == "" {
		return
	}
	if err := r.man.sync(); err != nil {
		r.log.Warn("failure manifest sync failed", "err", err)
		return
	}
	n, last := r.trk.mark()
	c := checkpoint{RunID: r.o.RunID, Mode: r.mode, Entries: n, Hash: strconv.FormatUint(last.hash, 16), LastKey: last.key, Updated: time.Now().UTC()}
	if err := writeCheckpoint(r.cpPath, c); err != nil {
		r.log.Warn("checkpoint write failed", "path", r.cpPath, "err", err)
	}
}

// pipeline runs producer → checkers → transfers with bounded queues.
func (r *run) pipeline(parent context.Context) error {
	g, ctx := errgroup.WithContext(parent)
	items := make(chan item, r.o.Transfers*4)
	toCopy := make(chan item, r.o.Transfers*2)

	g.Go(func() error {
		defer close(items)
		var err error
		if r.mode == "keys" {
			err = r.produceKeys(ctx, items)
		} else {
			err = r.produceList(ctx, items)
		}
		r.listingDone.Store(true)
		if err != nil {
			return err
		}
		for _, k := range r.o.Extra {
			if !r.pendingExtra[k] {
				continue // the main pass handled it, or it is listed twice
			}
			delete(r.pendingExtra, k)
			if err := send(ctx, items, item{act: actCheck, key: k, size: -1, seq: -1, extra: true}); err != nil {
				return err
			}
		}
		return nil
	})
	g.Go(func() error {
		defer close(toCopy)
		cg, cctx := errgroup.WithContext(ctx)
		cg.SetLimit(r.o.Checkers)
		for it := range items {
			if cctx.Err() != nil {
				break
			}
			if it.act != actCheck {
				if err := send(cctx, toCopy, it); err != nil {
					break
				}
				continue
			}
			cg.Go(func() error { return r.check(cctx, it, toCopy) })
		}
		return cg.Wait()
	})
	g.Go(func() error {
		// A fixed pool of transfer workers rather than a goroutine per
		// object: the AWS SDK's deep call chains grow every new goroutine's
		// stack several times, which showed up as 5 % of the client CPU of
		// small-object copies (runtime.newstack/copystack).
		tg, tctx := errgroup.WithContext(ctx)
		inFlight := semaphore.NewWeighted(bytesInFlight)
		for range r.o.Transfers {
			tg.Go(func() error {
				for it := range toCopy {
					if tctx.Err() != nil {
						return nil
					}
					w := min(max(it.size, 0), bytesInFlight)
					if err := inFlight.Acquire(tctx, w); err != nil {
						return nil
					}
					err := r.transfer(tctx, it)
					inFlight.Release(w)
					if err != nil {
						return err
					}
				}
				return nil
			})
		}
		return tg.Wait()
	})
	err := g.Wait()
	if err == nil {
		err = parent.Err()
	}
	return err
}

func send(ctx context.Context, ch chan<- item, it item) error {
	select {
	case ch <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// check looks the key up in the target; absent keys go on to be copied.
func (r *run) check(ctx context.Context, it item, out chan<- item) error {
	r.checks.Add(1)
	var attrs *blob.Attributes
	err := r.retry(ctx, func() error {
		var err error
		attrs, err = r.o.Target.Attributes(ctx, it.key)
		return err
	})
	switch {
	case err == nil:
		if it.extra {
			r.extraPresent.Add(1)
			r.done(it)
			return nil
		}
		if r.o.Checksum && !r.o.DryRun {
			if r.o.Origin != nil {
				it.act = actVerify
				return send(ctx, out, it)
			}
			if len(it.md5) > 0 && len(attrs.MD5) > 0 {
				r.verified.Add(1)
				if !bytes.Equal(it.md5, attrs.MD5) {
					r.contentDiffer.Add(1)
					r.sample(&r.result.ContentKeys, it.key)
				}
			}
		}
		r.present(it, attrs.Size)
		r.done(it)
		return nil
	case store.IsNotFound(err):
		it.act = actCopy
		return send(ctx, out, it)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return r.keyFailed(it, targetErr(err))
	}
}

// present counts a key found in the target.
func (r *run) present(it item, targetSize int64) {
	r.skipped.Add(1)
	r.skippedBytes.Add(targetSize)
	if r.o.CompareSize && it.size >= 0 && it.size != targetSize {
		r.sizeMismatch.Add(1)
		r.sample(&r.result.SizeMismatchKeys, it.key)
		r.log.Warn("size differs", "key", it.key, "origin", it.size, "target", targetSize)
	}
}

func (r *run) done(it item) {
	if it.seq >= 0 && r.mode == "keys" {
		r.trk.done(it.seq, it.track)
	}
}

func (r *run) sample(list *[]string, key string) {
	r.mu.Lock()
	if len(*list) < r.o.Samples {
		*list = append(*list, key)
	}
	r.mu.Unlock()
}

// keyFailed records a per-key failure, or returns err when it is fatal.
func (r *run) keyFailed(it item, err error) error {
	if fatal(err) {
		var fe *FatalError
		if errors.As(err, &fe) {
			return err
		}
		return &FatalError{Op: fmt.Sprintf("key %q", it.key), Err: err}
	}
	r.failed.Add(1)
	ke := KeyError{Key: it.key, Reason: reason(err), Error: err.Error()}
	if it.size > 0 {
		ke.Size = it.size
	}
	r.mu.Lock()
	if len(r.result.Failures) < r.o.Samples {
		r.result.Failures = append(r.result.Failures, ke)
	}
	r.mu.Unlock()
	r.log.Warn("copy failed", "key", it.key, "reason", ke.Reason, "err", err)
	if merr := r.man.add(ke); merr != nil {
		return &FatalError{Op: "write failure manifest", Err: merr}
	}
	r.done(it)
	// A target or origin that fails everything is down: stop rather than
	// write a manifest of every key.
	if n := r.consecutiveFailures.Add(1); n >= 1000 {
		return &FatalError{Op: "copy", Err: fmt.Errorf("%d keys in a row failed, last: %v", n, err)}
	}
	return nil
}

// transfer copies (or verifies) one key.
func (r *run) transfer(ctx context.Context, it item) error {
	if it.act == actVerify {
		return r.verify(ctx, it)
	}
	if r.o.DryRun {
		r.missing.Add(1)
		r.sample(&r.result.MissingKeys, it.key)
		r.done(it)
		return nil
	}
	var (
		n      int64
		stored bool
	)
	err := r.retry(ctx, func() error {
		var err error
		n, stored, err = r.fetch(ctx, it)
		return err
	})
	switch {
	case err == nil && stored:
		r.consecutiveFailures.Store(0)
		r.copied.Add(1)
		r.copiedBytes.Add(n)
		r.sample(&r.result.CopiedKeys, it.key)
		if r.o.CompareSize && it.size >= 0 && it.size != n {
			r.sizeMismatch.Add(1)
			r.sample(&r.result.SizeMismatchKeys, it.key)
		}
	case err == nil: // created meanwhile by someone else: create-only lost
		r.consecutiveFailures.Store(0)
		r.lostRace.Add(1)
		if it.extra {
			r.extraPresent.Add(1)
		} else {
			r.skipped.Add(1)
			r.skippedBytes.Add(max(it.size, 0))
		}
	case errors.Is(err, errVanished) || errors.Is(err, mirror.ErrNotFound):
		r.consecutiveFailures.Store(0)
		r.vanished.Add(1)
		r.sample(&r.result.VanishedKeys, it.key)
		r.log.Warn("source object not found, skipped", "key", it.key)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return r.keyFailed(it, err)
	}
	r.done(it)
	return nil
}

// fetch copies one key from the bucket origin or through the rules.
func (r *run) fetch(ctx context.Context, it item) (int64, bool, error) {
	if r.o.Origin != nil {
		return r.cp.copyObject(ctx, it.key, it.md5, it.size)
	}
	idx, rule := r.o.Rules.Match(it.key)
	if rule == nil {
		return 0, false, errNoRule
	}
	if r.cp.rps != nil {
		if err := r.cp.rps.Wait(ctx); err != nil {
			return 0, false, err
		}
	}
	res, err := r.o.Filler.Fill(ctx, mirror.Request{Rule: rule, RuleIndex: idx, Key: it.key})
	if err != nil {
		return 0, false, err
	}
	return res.Bytes, res.Stored, nil
}

// verify compares the content of a key present on both sides.
func (r *run) verify(ctx context.Context, it item) error {
	var same bool
	err := r.retry(ctx, func() error {
		var err error
		same, err = sameContent(ctx, r.o.Origin, r.o.Target, it.key)
		return err
	})
	switch {
	case err == nil:
		r.verified.Add(1)
		r.skipped.Add(1)
		r.skippedBytes.Add(max(it.size, 0))
		if !same {
			r.contentDiffer.Add(1)
			r.sample(&r.result.ContentKeys, it.key)
			r.log.Warn("content differs", "key", it.key)
		}
	case store.IsNotFound(err):
		var se *sideError
		if errors.As(err, &se) && se.side == "origin" {
			r.vanished.Add(1)
			r.sample(&r.result.VanishedKeys, it.key)
		} else {
			// Listed in the target, gone now: count it as missing.
			r.missing.Add(1)
			r.sample(&r.result.MissingKeys, it.key)
		}
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return r.keyFailed(it, err)
	}
	r.done(it)
	return nil
}

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
			r.listed.Add(1)
			r.listedBytes.Add(o.Size)
			delete(r.pendingExtra, o.Key)
			it := item{key: o.Key, size: o.Size, md5: o.MD5, seq: seq}
			seq++
			switch {
			case t != nil && t.Key == o.Key:
				ts.advance()
				if r.o.Checksum && !r.o.DryRun {
					it.act = actVerify
				} else {
					r.present(it, t.Size)
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
		err := r.retry(ctx, func() error {
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
		s.r.outOfOrder.Add(1)
		s.r.log.Debug("listing out of byte order", "side", s.name, "key", o.Key, "after", s.prev)
	}
	s.prev, s.started = o.Key, true
}

// prepareKeys validates a seekable key list in one pass, finds where a
// checkpoint of an interrupted run with the same RunID lets this run resume,
// and rewinds. It returns the number of entries to skip.
func (r *run) prepareKeys() (int64, error) {
	name := r.o.KeysName
	if name == "" {
		name = "-"
	}
	sk, ok := r.o.Keys.(io.Seeker)
	if !ok {
		return 0, nil
	}
	if _, err := sk.Seek(0, io.SeekCurrent); err != nil {
		return 0, nil // a pipe: validated while streaming
	}
	var cp *checkpoint
	if r.cpPath != "" {
		c, err := readCheckpoint(r.cpPath, r.o.RunID)
		if err != nil {
			r.log.Warn("checkpoint unreadable, starting over", "err", err)
		}
		cp = c
	}
	kr := NewKeyReader(r.o.Keys, name)
	h := hashStart
	var n, skip int64
	for {
		e, err := kr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		h = lineHash(h, e.raw)
		n++
		if cp != nil && n == cp.Entries && strconv.FormatUint(h, 16) == cp.Hash {
			skip = n
		}
	}
	if _, err := sk.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if skip > 0 {
		r.resumed = skip
		r.log.Info("resuming an interrupted scan from its checkpoint", "entries_done", skip, "last_key", cp.LastKey)
	}
	return skip, nil
}

// produceKeys reads the key list; every key is checked in the target first.
func (r *run) produceKeys(ctx context.Context, out chan<- item) error {
	name := r.o.KeysName
	if name == "" {
		name = "-"
	}
	skip, _ := r.trk.mark()
	// Into an empty target every key is missing: copy without checking
	// each one first, as the listing mode does (an existence check is one
	// more request per object; create-only writes keep a key written
	// meanwhile safe).
	act := actCheck
	if r.targetEmpty(ctx) {
		act = actCopy
	}
	kr := NewKeyReader(r.o.Keys, name)
	h := hashStart
	var seq int64
	for {
		e, err := kr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		h = lineHash(h, e.raw)
		it := item{act: act, key: e.Key, size: e.Size, md5: e.MD5, seq: seq, track: trackEntry{hash: h, key: e.Key}}
		seq++
		if it.seq < skip {
			continue
		}
		if !r.f.match(e.Key) {
			r.done(it)
			continue
		}
		r.listed.Add(1)
		delete(r.pendingExtra, e.Key)
		if e.Size > 0 {
			r.listedBytes.Add(e.Size)
		}
		if err := send(ctx, out, it); err != nil {
			return err
		}
	}
}

// targetEmpty reports whether the target holds no key under the prefix;
// false when that cannot be told.
func (r *run) targetEmpty(ctx context.Context) bool {
	var objs []*blob.ListObject
	err := r.retry(ctx, func() error {
		var err error
		objs, _, err = r.o.Target.ListPage(ctx, blob.FirstPageToken, 1, &blob.ListOptions{Prefix: r.o.Prefix})
		return err
	})
	return err == nil && len(objs) == 0
}

func (r *run) retry(ctx context.Context, f func() error) error {
	return retry(ctx, r.o.Retries, r.o.RetryBase, func(err error) {
		r.retries.Add(1)
		r.log.Debug("retrying", "err", err)
	}, f)
}

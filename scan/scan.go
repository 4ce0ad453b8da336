package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/store"
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
	o      Options
	f      *filter
	copier Copier
	rps    *rate.Limiter // origin requests/s; nil = unlimited
	log    *slog.Logger
	mode   string

	t           tally
	result      Result // samples, filled by t
	listingDone chan struct{}
	// pendingExtra holds the Options.Extra keys the main pass has not
	// produced yet; the listing's joins hold extraMu to touch it.
	pendingExtra map[string]bool
	extraMu      sync.Mutex

	// the names the origin and the target sort keys by (sortKeyOf), and
	// how many spans may be listed at once
	originName, targetName func(string) string
	spans                  int
	levels                 bool // spans may list by levels (both sides list with store.Lister)
	spansListed            atomic.Int64

	man     *manifest
	trk     *tracker
	cpPath  string
	resumed int64
}

// Run copies what the target lacks from the source described by o. It
// returns the result and a nil error when the run finished, even with
// per-key failures (see Stats.Complete); a *FatalError, a *LineError or
// the context's error when it stopped early. Failed keys are written to a
// manifest in the state dir.
func Run(ctx context.Context, o Options) (*Result, error) {
	closeAll, err := o.open(ctx)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	r, err := newRun(o)
	if err != nil {
		return nil, err
	}
	res, err := r.execute(ctx)
	if res != nil {
		res.Target = store.Redact(o.TargetURL)
	}
	return res, err
}

// open opens what o names by URL (target, origin) and the mirror that
// copies, unless o already holds them, and returns a func that closes what
// it opened.
func (o *Options) open(ctx context.Context) (func(), error) {
	var closers []func() error
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}
	fail := func(err error) (func(), error) { closeAll(); return nil, err }
	// Both are opened at once: each open checks its bucket with a request.
	var (
		wg         sync.WaitGroup
		tb, ob     *store.Bucket
		terr, oerr error
	)
	if o.Target == nil && o.TargetURL != "" {
		wg.Go(func() { tb, terr = store.Open(ctx, o.TargetURL) })
	}
	if o.Origin == nil && o.OriginURL != "" {
		wg.Go(func() { ob, oerr = store.OpenOrigin(ctx, o.OriginURL) })
	}
	wg.Wait()
	if tb != nil {
		o.Target, closers = tb, append(closers, tb.Close)
	}
	if ob != nil {
		o.Origin, closers = ob, append(closers, ob.Close)
	}
	if err := cmp.Or(terr, oerr); err != nil {
		return fail(err)
	}
	if o.Copier == nil && o.Target != nil {
		mo := o.Fetch
		mo.Target, mo.Logger, mo.ContentTypes, mo.BWLimit = o.Target, o.Logger, o.ContentTypes, o.BWLimit
		// A copy streams and needs no spool (serve's size limit protects its
		// spool): any size goes, and serve's spool_dir need not exist.
		mo.MaxObjectSize, mo.SpoolDir = math.MaxInt64, ""
		m, err := mirror.New(mo)
		if err != nil {
			return fail(err)
		}
		o.Copier, closers = m, append(closers, m.Close)
	}
	return closeAll, nil
}

func newRun(o Options) (*run, error) {
	if o.Target == nil {
		return nil, errors.New("scan: no target")
	}
	mode := "list"
	switch {
	case o.Keys != nil:
		mode = "keys"
		if o.Origin == nil && o.Rules == nil {
			return nil, errors.New("scan: a key list needs an origin bucket or rules to fetch through")
		}
	case o.Origin == nil:
		return nil, errors.New("scan: no origin and no key list")
	}
	o.setDefaults()
	f, err := newFilter(&o)
	if err != nil {
		return nil, err
	}
	r := &run{o: o, f: f, copier: o.Copier, log: o.Logger, mode: mode, listingDone: make(chan struct{}), man: &manifest{}}
	r.t.res, r.t.samples = &r.result, o.Samples
	r.targetName, r.spans = sortKeyOf(o.Target), 1
	if o.Origin != nil {
		r.originName = sortKeyOf(o.Origin)
		r.spans = o.listers()
		r.levels = r.spans > 1 && o.Origin.Lister() != nil && o.Target.Lister() != nil
	}
	if len(o.Extra) > 0 {
		r.pendingExtra = make(map[string]bool, len(o.Extra))
		for _, k := range o.Extra {
			r.pendingExtra[k] = true
		}
	}
	if o.MaxRPS > 0 {
		r.rps = rate.NewLimiter(rate.Limit(o.MaxRPS), max(1, int(o.MaxRPS/10)))
	}
	if o.StateDir != "" && !o.DryRun {
		r.man.dir = StateDir(o.StateDir)
		r.cpPath = r.man.dir.checkpoint(o.runID())
	}
	r.result.Mode = mode
	r.result.DryRun = o.DryRun
	return r, nil
}

// setDefaults fills in the zero values of o.
func (o *Options) setDefaults() {
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
	if o.Listers < 0 {
		o.Listers = 1
	}
	if o.Samples <= 0 {
		o.Samples = 10
	}
	if o.command == "" {
		o.command = "scan"
	}
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

	stopTicks := r.tick()
	err := r.pipeline(ctx)
	stopTicks()

	if r.cpPath != "" {
		if err != nil {
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

	r.t.mu.Lock()
	res := r.result
	r.t.mu.Unlock()
	res.Stats = st
	res.Duration = time.Since(start)
	res.Seconds = res.Duration.Seconds()
	res.Manifest = r.man.path
	res.Resumed = r.resumed
	return &res, err
}

// tick sends progress a few times per second and saves the checkpoint
// every two seconds until the returned func is called.
func (r *run) tick() (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-quit:
				return
			case <-t.C:
				r.o.Progress.Update(r.stats())
				if n%10 == 0 {
					r.saveCheckpoint()
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func (r *run) stats() Stats {
	st := r.t.stats()
	st.Spans = r.spansListed.Load()
	select {
	case <-r.listingDone:
		st.ListingDone = true
	default:
	}
	return st
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
	c := checkpoint{RunID: r.o.runID(), Mode: r.mode, Entries: n, Hash: strconv.FormatUint(last.hash, 16), LastKey: last.key, Updated: time.Now().UTC()}
	if err := writeCheckpoint(r.cpPath, c); err != nil {
		r.log.Warn("checkpoint write failed", "path", r.cpPath, "err", err)
	}
}

// pipeline runs producer → checkers → transfers with bounded queues.
func (r *run) pipeline(parent context.Context) error {
	g, ctx := errgroup.WithContext(parent)
	items := make(chan item, r.o.Transfers*4)
	toCopy := make(chan item, r.o.Transfers*2)
	g.Go(func() error { return r.produce(ctx, items) })
	g.Go(func() error { return r.checkAll(ctx, items, toCopy) })
	g.Go(func() error { return r.transferAll(ctx, toCopy) })
	err := g.Wait()
	if err == nil {
		err = parent.Err()
	}
	return err
}

// produce sends the source's keys, then the Extra keys the main pass did
// not cover.
func (r *run) produce(ctx context.Context, out chan<- item) error {
	defer close(out)
	var err error
	if r.mode == "keys" {
		err = r.produceKeys(ctx, out)
	} else {
		err = r.produceList(ctx, out)
	}
	close(r.listingDone)
	if err != nil {
		return err
	}
	for _, k := range r.o.Extra {
		if !r.pendingExtra[k] {
			continue // the main pass handled it, or it is listed twice
		}
		delete(r.pendingExtra, k)
		if err := send(ctx, out, item{act: actCheck, key: k, size: -1, seq: -1, extra: true}); err != nil {
			return err
		}
	}
	return nil
}

// checkAll runs the existence checks, Checkers at a time, and passes
// everything else on.
func (r *run) checkAll(ctx context.Context, in <-chan item, out chan<- item) error {
	defer close(out)
	cg, cctx := errgroup.WithContext(ctx)
	cg.SetLimit(r.o.Checkers)
	for it := range in {
		if cctx.Err() != nil {
			break
		}
		if it.act != actCheck {
			if err := send(cctx, out, it); err != nil {
				break
			}
			continue
		}
		cg.Go(func() error { return r.check(cctx, it, out) })
	}
	return cg.Wait()
}

// transferAll copies with a fixed pool of Transfers workers rather than a
// goroutine per object: the AWS SDK's deep call chains grow every new
// goroutine's stack several times, which showed up as 5 % of the client
// CPU of small-object copies (runtime.newstack/copystack).
func (r *run) transferAll(ctx context.Context, in <-chan item) error {
	tg, tctx := errgroup.WithContext(ctx)
	inFlight := semaphore.NewWeighted(bytesInFlight)
	for range r.o.Transfers {
		tg.Go(func() error {
			for it := range in {
				if tctx.Err() != nil {
					return nil
				}
				w := min(max(it.size, 0), bytesInFlight)
				if err := inFlight.Acquire(tctx, w); err != nil {
					return nil
				}
				err := r.transfer(tctx, it, w)
				inFlight.Release(w)
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	return tg.Wait()
}

func send(ctx context.Context, ch chan<- item, it item) error {
	select {
	case ch <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retry runs f with the run's retry policy; each retry is logged at debug
// level with what (the key, or the listing) and the attempt (a key's final
// failure is logged once, at warn level, by record).
func (r *run) retry(ctx context.Context, what slog.Attr, f func() error) error {
	attempt := 0
	return retry(ctx, r.o.Retries, r.o.RetryBase, func(err error) {
		attempt++
		r.t.note(evRetry, 0)
		r.log.Debug("retrying", what, "attempt", attempt, "err", err)
	}, f)
}

// record counts it's outcome, logs what an operator must hear of, and marks
// the key done for the checkpoint. It returns the failures in a row.
func (r *run) record(it item, o outcome) int64 {
	n := r.t.record(it, o)
	switch {
	case o.kind == outFailed:
		r.log.Warn("copy failed", "key", it.key, "reason", o.failure.Reason, "err", o.failure.Error)
	case o.kind == outVanished:
		r.log.Warn("source object not found, skipped", "key", it.key)
	case o.differs:
		r.log.Warn("content differs", "key", it.key)
	case o.sizeDiffers:
		r.log.Warn("size differs", "key", it.key, "origin", it.size, "target", o.bytes)
	}
	r.done(it)
	return n
}

// done marks a key-list entry done for the checkpoint.
func (r *run) done(it item) {
	if it.seq >= 0 && r.mode == "keys" {
		r.trk.done(it.seq, it.track)
	}
}

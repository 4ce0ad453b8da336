package plan

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// Defaults of a worker.
const (
	DefaultLease       = 2 * time.Minute
	DefaultMaxAttempts = 3
)

// WorkOptions configures a worker.
type WorkOptions struct {
	// Scan is the scan every partition runs (target, origin or rules,
	// transfers, ...); the partition sets its source (a key range or key
	// file), RunID and StateDir.
	Scan scan.Options
	// StateDir is the worker's local state directory; each plan's attempts
	// keep their failure manifests and checkpoints under plans/ in it.
	StateDir string
	// Worker names this worker in claims and markers; default host-pid-random.
	Worker string
	// Lease is how long a claim stays valid without a heartbeat (default
	// DefaultLease); the worker beats every third of it.
	Lease time.Duration
	// MaxAttempts is how many attempts Work makes at a partition, across
	// workers, before leaving it failed (default DefaultMaxAttempts).
	MaxAttempts int
	Logger      *slog.Logger
	// Run runs a scan; default scan.Run (tests count or break it).
	Run func(context.Context, scan.Options) (*scan.Result, error)
}

func (o *WorkOptions) setDefaults() {
	if o.Worker == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		o.Worker = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Run == nil {
		o.Run = scan.Run
	}
}

// PartResult is what one worker did with one partition.
type PartResult struct {
	Partition   int    `json:"partition"`
	Target      string `json:"target,omitempty"` // the target URL, redacted (a single partition's summary)
	Attempt     int    `json:"attempt,omitempty"`
	AlreadyDone bool   `json:"already_done,omitempty"` // a marker existed: nothing was run
	// Counted says this attempt's marker was the first: its counts are the
	// partition's. false when another attempt finished the partition first.
	Counted bool         `json:"counted"`
	Result  *scan.Result `json:"result,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// Incomplete reports whether the partition still has failed or missing keys
// after this attempt (or the attempt failed): it is not done.
func (r PartResult) Incomplete() bool {
	return r.Error != "" || (r.Result != nil && !r.Result.Complete())
}

// RunPartition does partition part of the plan in st: nothing when it is
// done already; otherwise it claims a new attempt, runs the partition's
// scan while beating the claim, leaves the failure manifest in the state
// location, and, when no key failed, finishes with the create-only
// completion marker (an attempt with failed keys leaves the partition
// failed, to be retried). A run
// that stops early (a fatal error, an interrupt) marks the attempt failed
// and returns the error.
func RunPartition(ctx context.Context, st *State, part int, o WorkOptions) (PartResult, error) {
	o.setDefaults()
	p, err := st.Load(ctx)
	if err != nil {
		return PartResult{Partition: part}, err
	}
	if part < 0 || part >= len(p.Partitions) {
		return PartResult{Partition: part}, fmt.Errorf("%s: partition %d: the plan has partitions 0..%d", st, part, len(p.Partitions)-1)
	}
	w := &worker{st: st, p: p, o: o}
	if done, err := w.isDone(ctx, part); err != nil || done {
		return PartResult{Partition: part, AlreadyDone: done}, err
	}
	latest, err := st.latestClaims(ctx)
	if err != nil {
		return PartResult{Partition: part}, err
	}
	for attempt := latest[part] + 1; ; attempt++ {
		res, err := w.attempt(ctx, part, attempt)
		if !errors.Is(err, errLostClaim) {
			return res, err
		}
	}
}

// errLostClaim: another worker created the same attempt first.
var errLostClaim = errors.New("claim taken by another worker")

// worker runs attempts at partitions of one plan.
type worker struct {
	st *State
	p  *Plan
	o  WorkOptions
}

func (w *worker) isDone(ctx context.Context, part int) (bool, error) {
	_, err := w.st.b.Attributes(ctx, doneKey(part))
	if store.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// attempt claims attempt number attempt at part (errLostClaim when another
// worker has it) and runs it.
func (w *worker) attempt(ctx context.Context, part, attempt int) (PartResult, error) {
	now := time.Now().UTC()
	c := &Claim{Partition: part, Attempt: attempt, Worker: w.o.Worker, Started: now, Heartbeat: now, Lease: w.o.Lease, State: StateRunning}
	if err := w.st.create(ctx, claimKey(part, attempt), c); err != nil {
		if store.IsExists(err) {
			return PartResult{}, errLostClaim
		}
		return PartResult{Partition: part}, err
	}
	w.o.Logger.Info("partition claimed", "plan", w.st.name, "partition", part, "attempt", attempt, "worker", w.o.Worker)
	stop := w.heartbeat(ctx, c)
	res := PartResult{Partition: part, Attempt: attempt}
	sres, err := w.scan(ctx, part)
	stop()
	res.Result = sres
	// The outcome is recorded even when ctx is cancelled.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	c.Heartbeat, c.State = time.Now().UTC(), StateDone
	if err == nil {
		c.Stats = &sres.Stats
		res.Counted, err = w.finish(fctx, part, attempt, sres)
		if err == nil && !sres.Complete() {
			// Not done: the partition is retried (by Kubernetes, or by
			// another worker), and its failed keys wait in the manifest.
			c.State, c.Error = StateFailed, fmt.Sprintf("%d keys failed, %d missing, %d size mismatches", sres.Failed, sres.Missing, sres.SizeMismatch)
			if sres.Unlisted > 0 {
				c.Error += fmt.Sprintf(", %d origin paths not listable (%s)", sres.Unlisted, strings.Join(sres.UnlistedPaths, ", "))
			}
		}
	}
	if err != nil {
		c.State, c.Error, res.Error = StateFailed, err.Error(), err.Error()
	}
	if werr := w.st.write(fctx, claimKey(part, attempt), c, false); werr != nil && err == nil {
		err = werr
	}
	return res, err
}

// heartbeat rewrites the claim every third of the lease until stop is called.
func (w *worker) heartbeat(ctx context.Context, c *Claim) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.o.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				beat := *c
				beat.Heartbeat = time.Now().UTC()
				if err := w.st.write(ctx, claimKey(c.Partition, c.Attempt), &beat, false); err != nil {
					w.o.Logger.Warn("heartbeat failed", "partition", c.Partition, "err", err)
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// scan runs the partition's scan.
func (w *worker) scan(ctx context.Context, part int) (*scan.Result, error) {
	pt := w.p.Partitions[part]
	o := w.o.Scan
	if o.Prefix != "" && o.Prefix != w.p.Prefix {
		return nil, fmt.Errorf("--prefix %q: the plan was made for prefix %q", o.Prefix, w.p.Prefix)
	}
	o.Prefix = w.p.Prefix
	o.RunID = fmt.Sprintf("plan %s partition %d", w.st.name, part)
	local := filepath.Join(w.o.StateDir, "plans", shortHash(w.st.name), fmt.Sprintf("p-%06d", part))
	if w.o.StateDir == "" {
		local = ""
	}
	o.StateDir = local
	if pt.KeyFile == "" {
		if err := setRange(&o, pt); err != nil {
			return nil, err
		}
		return w.o.Run(ctx, o)
	}
	f, err := w.st.download(ctx, pt.KeyFile)
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	o.Keys, o.KeysName = f, w.st.name+"/"+pt.KeyFile
	return w.o.Run(ctx, o)
}

// finish leaves the attempt's failure manifest in the state location and,
// when the partition is complete, creates the completion marker; counted is
// false when another attempt's marker was first.
func (w *worker) finish(ctx context.Context, part, attempt int, res *scan.Result) (counted bool, err error) {
	m := Marker{Partition: part, Attempt: attempt, Worker: w.o.Worker, Finished: time.Now().UTC(), Seconds: res.Seconds, Stats: res.Stats}
	if res.Manifest != "" {
		m.Manifest = failedKey(part, attempt)
		if err := w.st.upload(ctx, res.Manifest, m.Manifest); err != nil {
			return false, err
		}
	}
	if !res.Complete() {
		return false, nil
	}
	if err := w.st.create(ctx, doneKey(part), &m); err != nil {
		if store.IsExists(err) {
			w.o.Logger.Info("partition was finished by another attempt first; not counted again", "partition", part, "attempt", attempt)
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// download copies an object of the state location to a temporary file,
// rewound.
func (s *State) download(ctx context.Context, key string) (*os.File, error) {
	r, err := s.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", s, key, err)
	}
	defer r.Close()
	f, err := os.CreateTemp("", "ferry-part-*.jsonl")
	if err != nil {
		return nil, err
	}
	if _, err = io.Copy(f, r); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("%s: read %s: %w", s, key, err)
	}
	return f, nil
}

// upload copies a local file into the state location.
func (s *State) upload(ctx context.Context, path, key string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.b.Upload(ctx, key, f, &blob.WriterOptions{ContentType: "application/x-ndjson"}); err != nil {
		return fmt.Errorf("%s: write %s: %w", s, key, err)
	}
	return nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

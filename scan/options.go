package scan

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// Copier copies one object into the target, create-only: a *mirror.Mirror,
// which Run builds from Options.Fetch unless Options.Copier gives one.
type Copier interface {
	Copy(ctx context.Context, req mirror.Request) (mirror.Result, error)
}

// Options configures one scan. Exactly one source is used: an origin alone
// (listing mode), Keys with an origin (keys read from the origin bucket), or
// Keys with Rules (keys fetched through the rules, as serve fetches them).
type Options struct {
	// The target (required, written create-only) and the listable origin:
	// open buckets, or URLs that Run opens and closes.
	Target    *store.Bucket
	TargetURL string
	Origin    *store.Bucket
	OriginURL string

	Keys     io.Reader // key list: plain lines, JSONL or CSV (key[,size,md5])
	KeysName string    // file name for messages ("-" for stdin)
	Rules    *rules.Set

	// Fetch configures origin requests (timeouts, Via, redirect policy) as
	// for serve; Run sets its Target, Logger, ContentTypes and BWLimit.
	Fetch mirror.Options
	// Copier, when set, copies instead of the mirror Run builds (tests).
	Copier Copier

	Prefix  string   // only keys with this prefix
	Include []string // globs; a key must match one when any are given
	Exclude []string // globs; a key matching one is skipped
	Shard   int      // 0-based shard of Shards; keys are split by a hash (every shard lists everything)
	Shards  int      // 0 or 1: no sharding
	// Range limits the run to the keys in a range (a partition of a plan).
	// A listing starts after Range.After where the store can (S3
	// start-after; elsewhere the keys before it are skipped) and stops
	// after Range.Until; a key list is filtered by it. Keys are compared as
	// the store names them (see KeyRange).
	Range KeyRange

	Transfers int // objects copied in parallel; default 64
	Checkers  int // existence checks in parallel; default 16
	// Listers is how many spans of the key space are listed (and diffed)
	// at once; 1 lists each side page after page. Default DefaultListers
	// for an S3 origin and a target that is not a local directory, else 1.
	Listers int

	DryRun      bool  // list and diff only; copy nothing
	Retries     int   // extra attempts for transient errors; default 3 (negative: none)
	CompareSize bool  // report keys present in both with different sizes
	Checksum    bool  // compare the content of keys present in both (finalize)
	BWLimit     int64 // bytes per second read from the origin; 0 = unlimited
	MaxRPS      float64

	// ContentTypes gives the type of plain files read from a directory
	// origin (by extension); nil: ferry's table.
	ContentTypes *store.ContentTypes

	// StateDir keeps failure manifests and checkpoints (see StateDir); ""
	// keeps nothing.
	StateDir string
	// RunID names the checkpoint: runs with the same RunID resume each
	// other. "" : built from the command, the URLs, the key list and the
	// filters, so that rerunning the same command resumes.
	RunID string
	// Extra are keys to check and copy after the main pass (finalize: keys
	// that failed earlier). They are fetched from the origin when there is
	// one, else through the rules.
	Extra []string
	// Journals are the serve journals finalize reads failed keys from
	// (globs); none: the state dir's (StateDir.Journals).
	Journals []string

	Progress Progress     // default NoProgress
	Logger   *slog.Logger // default discards
	Samples  int          // keys kept per report category; default 10

	// RetryBase is the first backoff delay; default 200ms (tests shorten it).
	RetryBase time.Duration

	command string // what runs: scan (default) or finalize, for the RunID
}

// listers is o.Listers with its default: DefaultListers when the origin
// can start a listing anywhere (S3 start-after, GCS startOffset) and the
// target is remote.
func (o *Options) listers() int {
	switch {
	case o.Listers > 0:
		return o.Listers
	case o.Origin != nil && canStartAfter(o.Origin) && o.Target.Dir() == "":
		return DefaultListers
	}
	return 1
}

// runID is o.RunID, or the one built from what identifies the run.
func (o *Options) runID() string {
	if o.RunID != "" {
		return o.RunID
	}
	shard := ""
	if o.Shards > 0 {
		shard = fmt.Sprintf("%d/%d", o.Shard, o.Shards)
	}
	keys := ""
	if o.Keys != nil {
		keys = o.KeysName
	}
	return strings.Join([]string{o.command, store.Redact(o.TargetURL), store.Redact(o.OriginURL), keys, o.Prefix,
		strings.Join(o.Include, "\x00"), strings.Join(o.Exclude, "\x00"), shard}, "\n")
}

// Stats is a snapshot of a run's counters.
type Stats struct {
	Listed        int64 `json:"listed"`       // source keys considered (after filters)
	ListedBytes   int64 `json:"listed_bytes"` // their sizes, when known
	ListingDone   bool  `json:"-"`
	Copied        int64 `json:"copied"`
	CopiedBytes   int64 `json:"copied_bytes"`
	Skipped       int64 `json:"skipped"`   // already in the target
	LostRace      int64 `json:"lost_race"` // fetched, but the create-only write found the key already there
	SkippedBytes  int64 `json:"skipped_bytes"`
	Missing       int64 `json:"missing"`       // dry run: would be copied
	MissingBytes  int64 `json:"missing_bytes"` // their sizes, when known
	Failed        int64 `json:"failed"`
	Vanished      int64 `json:"vanished"` // listed, then gone from the origin
	SizeMismatch  int64 `json:"size_mismatch"`
	ContentDiffer int64 `json:"content_mismatch"`
	Verified      int64 `json:"content_verified"`
	OutOfOrder    int64 `json:"out_of_order"` // listing entries that arrived out of byte order
	// Unlisted: paths of a directory origin its listing could not list
	// (a directory it cannot read, a file whose name no key reads); their
	// objects are not migrated, so the run is not complete.
	Unlisted int64 `json:"unlisted"`
	Checks   int64 `json:"checks"`  // existence checks made on the target
	Retries  int64 `json:"retries"` // transient errors retried
	Spans    int64 `json:"spans"`   // spans of the key space listed (Listers)
	Final    bool  `json:"-"`
}

// Processed is the number of keys that reached an outcome.
func (s Stats) Processed() int64 {
	return s.Copied + s.Skipped + s.Missing + s.Failed + s.Vanished
}

// ProcessedBytes is the bytes of keys that reached an outcome.
func (s Stats) ProcessedBytes() int64 { return s.CopiedBytes + s.SkippedBytes + s.MissingBytes }

// Complete is the one rule for a target that holds every source key
// considered: nothing failed, nothing missing, no size or content
// differences. scan's exit status and finalize's report both use it.
func (s Stats) Complete() bool {
	return s.Failed == 0 && s.Missing == 0 && s.SizeMismatch == 0 && s.ContentDiffer == 0 && s.Unlisted == 0
}

// Progress receives snapshots a few times per second and once at the end
// (with Final set). Implementations must be safe for use from one goroutine
// at a time; Update is never called concurrently.
type Progress interface {
	Update(Stats)
}

// NoProgress discards progress.
type NoProgress struct{}

// Update does nothing.
func (NoProgress) Update(Stats) {}

// KeyError is one failed key.
type KeyError struct {
	Key    string `json:"key"`
	Size   int64  `json:"size,omitempty"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// Result is the outcome of a run.
type Result struct {
	Mode     string        `json:"mode"`             // list, keys
	Target   string        `json:"target,omitempty"` // the target URL, redacted
	DryRun   bool          `json:"dry_run,omitempty"`
	Stats                  // counters
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"duration_seconds"`
	// Manifest is the failure manifest written by this run ("" when nothing failed).
	Manifest string `json:"failure_manifest,omitempty"`
	// Resumed is the number of keys skipped thanks to a checkpoint (key lists).
	Resumed int64 `json:"resumed,omitempty"`

	Failures         []KeyError `json:"failures,omitempty"`           // sample
	MissingKeys      []string   `json:"missing_keys,omitempty"`       // sample (dry run)
	VanishedKeys     []string   `json:"vanished_keys,omitempty"`      // sample
	SizeMismatchKeys []string   `json:"size_mismatch_keys,omitempty"` // sample
	ContentKeys      []string   `json:"content_mismatch_keys,omitempty"`
	CopiedKeys       []string   `json:"copied_keys,omitempty"`    // sample
	UnlistedPaths    []string   `json:"unlisted_paths,omitempty"` // sample: what the origin's listing could not list
}

// Package mirror performs fills: one origin fetch for a key the target lacks,
// streamed to every waiting reader through a spool file and stored in the
// target create-only, with integrity checks before commit.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/ferry-migrate/ferry/rules"
	"gocloud.dev/blob"
)

// Options configures a Mirror. Zero values take the documented defaults.
type Options struct {
	Target   *blob.Bucket // where fills are stored (create-only)
	SpoolDir string       // temp files for fills; default os.TempDir()

	MaxObjectSize  int64         // refuse larger objects; default 5 GiB
	ConnectTimeout time.Duration // dial; default 10s
	HeaderTimeout  time.Duration // origin response headers; default 30s
	IdleTimeout    time.Duration // no byte from the origin for this long fails the fill; default 60s
	FillTimeout    time.Duration // total deadline of a detached fill; default 1h

	// AllowPrivateRedirects lets redirects reach loopback, private, link-local
	// and similar addresses. The configured origin host is always trusted.
	AllowPrivateRedirects bool

	Via     string   // token added to the Via header of origin requests (loop protection)
	Journal *Journal // fill outcomes; nil = not journaled
	Hooks   Hooks    // metrics callbacks; nil funcs are skipped
	Logger  *slog.Logger

	// OpenBucket opens bucket origins; default store.OpenOrigin.
	OpenBucket func(ctx context.Context, rawURL string) (*blob.Bucket, error)
}

// Hooks are called on fill events, for metrics. Every field may be nil.
type Hooks struct {
	FillStarted func()
	FillDone    func(result, reason string, bytes int64, d time.Duration) // result: stored, exists, not_found, redirect, failed
	Coalesced   func()
	OriginBytes func(n int64)
	InFlight    func(delta int)
}

// Request names one key to fetch through one rule.
type Request struct {
	Rule      *rules.Rule
	RuleIndex int // 0-based, for the journal
	Key       string
	Header    http.Header // the client's headers (the rule's policy picks what is forwarded)
	RawQuery  string      // the client's query string (forwarded when the rule says so)
}

// Meta is what the origin said about the object, available as soon as its
// response headers arrive.
type Meta struct {
	Size               int64 // -1 when the origin sent no Content-Length (chunked)
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	ETag               string // origin ETag, quoted as sent
	LastModified       time.Time
}

// ErrNotFound: the origin answered 404 (serve answers NoSuchKey).
var ErrNotFound = errors.New("origin: not found")

// RedirectError is a 3xx passed through because the rule does not follow redirects.
type RedirectError struct {
	Status   int
	Location string
}

func (e *RedirectError) Error() string { return fmt.Sprintf("origin redirect %d to %s", e.Status, e.Location) }

// FailedError is any other failure (serve answers 424 MirrorFailed): a non-200
// status, network error, timeout, integrity or size check.
type FailedError struct {
	Status int    // origin status, 0 when none
	Reason string // short machine-friendly reason: status, network, timeout, length, md5, too_large, redirect_loop, redirect_blocked, refused_key
	Err    error
}

func (e *FailedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("mirror failed (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("mirror failed (%s)", e.Reason)
}
func (e *FailedError) Unwrap() error { return e.Err }

// Mirror runs fills, at most one per target key at a time.
type Mirror struct {
	opts Options
}

// New returns a Mirror. Close or Shutdown it when done.
func New(o Options) (*Mirror, error) {
	return nil, errors.New("mirror.New: not implemented yet")
}

// Get starts a fill for req.Key or joins the one in flight, and returns once
// the origin's response headers are known. Errors: ErrNotFound,
// *RedirectError, *FailedError. ctx bounds only the wait of this caller: the
// fill itself runs on a detached context and completes for other readers.
func (m *Mirror) Get(ctx context.Context, req Request) (*Stream, error) {
	return nil, errors.New("mirror.Get: not implemented yet")
}

// Head asks the origin for the object's headers without storing anything
// (for HEAD on a missing key when the rule has mirror_head).
func (m *Mirror) Head(ctx context.Context, req Request) (*Meta, error) {
	return nil, errors.New("mirror.Head: not implemented yet")
}

// Result is the outcome of a completed fill.
type Result struct {
	Bytes  int64
	Stored bool // false when the key already existed in the target (create-only lost; not an error)
}

// Fill fetches req.Key and stores it, waiting for the commit (scan and
// finalize use it for keys fetched through rules).
func (m *Mirror) Fill(ctx context.Context, req Request) (Result, error) {
	return Result{}, errors.New("mirror.Fill: not implemented yet")
}

// Shutdown waits for in-flight fills until ctx is done, then cancels the
// rest, removes their spool files and flushes the journal.
func (m *Mirror) Shutdown(ctx context.Context) error { return nil }

// Stream is one reader's view of a fill.
type Stream struct {
	Meta      Meta
	Coalesced bool // joined a fill started by another request
}

// NewReader returns a reader of bytes [off, off+n) of the object (n < 0: to
// the end) that follows the spool as bytes arrive. A failed fill makes Read
// return an error (never io.EOF early). Close the reader when done.
func (s *Stream) NewReader(off, n int64) io.ReadCloser {
	return io.NopCloser(errReader{errors.New("not implemented yet")})
}

// Wait blocks until the fill has committed (or failed) and returns its result.
func (s *Stream) Wait(ctx context.Context) (Result, error) {
	return Result{}, errors.New("not implemented yet")
}

// Close releases this reader's hold on the fill (the fill itself goes on).
func (s *Stream) Close() error { return nil }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Journal appends one JSON line per fill outcome to a file in the state dir.
type Journal struct{}

// Entry is one journal line.
type Entry struct {
	Time       time.Time `json:"time"`
	Key        string    `json:"key"`
	Rule       int       `json:"rule"` // 1-based rule number
	Status     int       `json:"status,omitempty"`
	Bytes      int64     `json:"bytes"`
	DurationMS int64     `json:"duration_ms"`
	Result     string    `json:"result"` // stored, exists, not_found, redirect, failed
	Error      string    `json:"error,omitempty"`
}

// OpenJournal opens (creating) the journal file at path for appending.
func OpenJournal(path string) (*Journal, error) {
	return nil, errors.New("mirror.OpenJournal: not implemented yet")
}

// Append writes one entry; safe for concurrent use.
func (j *Journal) Append(e Entry) error { return nil }

// Close flushes and closes the journal.
func (j *Journal) Close() error { return nil }

// FailedKeys reads the journal files matching glob and returns the keys whose
// last outcome is "failed" (a torn last line is tolerated).
func FailedKeys(glob string) ([]string, error) {
	return nil, errors.New("mirror.FailedKeys: not implemented yet")
}

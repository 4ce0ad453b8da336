package mirror

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Journal appends one JSON line per fill outcome to a file in the state dir.
// Each entry is a single write on an O_APPEND file, so several processes may
// share a file; a crash can at worst leave a torn last line, which readers
// skip and the next OpenJournal terminates. Every line names the process
// that wrote it (a random run ID per OpenJournal, and the pid), so that a
// fill that began (ResultStarted) and never ended can be told from one that
// is still running (uploads.go).
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	run  string
	pid  int
}

// Entry is one journal line.
type Entry struct {
	Time       time.Time `json:"time"`
	Key        string    `json:"key"`
	Rule       int       `json:"rule"`             // 1-based rule number
	Origin     int       `json:"origin,omitempty"` // 1-based origin of the rule that answered (the last one tried when none did)
	Status     int       `json:"status,omitempty"`
	Bytes      int64     `json:"bytes"`
	DurationMS int64     `json:"duration_ms"`
	Result     Outcome   `json:"result"` // stored, exists, not_found, redirect, passed, failed; or started
	Error      string    `json:"error,omitempty"`
	Run        string    `json:"run,omitempty"` // the writing process: random per OpenJournal
	PID        int       `json:"pid,omitempty"`
}

// ResultStarted is the Result of the line a fill writes before an upload
// that may be a multipart one (an S3 target, an object of unknown size or
// of store.MultipartThreshold bytes or more); the fill's outcome follows in
// a line of its own. A started line without one is a fill whose process
// died: the next serve sweeps its uploads (Mirror.SweepJournal), and
// FailedKeys counts the key as failed.
const ResultStarted Outcome = "started"

// OpenJournal opens (creating) the journal file at path for appending. The
// directory must exist.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	// A torn last line (crash mid-write) gets its newline so the next entry
	// starts on a line of its own.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		if last, err := lastByte(path, st.Size()); err == nil && last != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				_ = f.Close()
				return nil, fmt.Errorf("journal %s: %w", path, err)
			}
		}
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Journal{f: f, path: path, run: hex.EncodeToString(id[:]), pid: os.Getpid()}, nil
}

func lastByte(path string, size int64) (byte, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	b := make([]byte, 1)
	if _, err := r.ReadAt(b, size-1); err != nil {
		return 0, err
	}
	return b[0], nil
}

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

// Append writes one entry as one line with a single write; safe for
// concurrent use. A zero Time is now; an empty Run (and PID) is the
// journal's own process.
func (j *Journal) Append(e Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Run == "" {
		e.Run, e.PID = j.run, j.pid
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal %s: closed", j.path)
	}
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

// Sync flushes the journal to stable storage.
func (j *Journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	return j.f.Sync()
}

// Close flushes and closes the journal; later Appends fail.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	return err
}

// FailedKeys reads the journal files matching glob and returns, sorted, the
// keys whose last outcome is "failed", or "started" (a fill that has not
// ended, or whose process died). The last outcome is the entry with the
// latest time (file order breaks ties). Lines that are not valid JSON (a torn
// line left by a crash) are skipped.
func FailedKeys(glob string) ([]string, error) {
	files, err := filepath.Glob(glob)
	if err != nil {
		return nil, fmt.Errorf("journal glob %q: %w", glob, err)
	}
	sort.Strings(files)
	type last struct {
		t      time.Time
		failed bool
	}
	seen := make(map[string]last)
	for _, name := range files {
		err := readJournal(name, func(e Entry) {
			if prev, ok := seen[e.Key]; ok && e.Time.Before(prev.t) {
				return
			}
			seen[e.Key] = last{t: e.Time, failed: e.Result == OutcomeFailed || e.Result == ResultStarted}
		})
		if err != nil {
			return nil, err
		}
	}
	var keys []string
	for k, v := range seen {
		if v.failed {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// readJournal calls fn for every well-formed entry of the file.
func readJournal(name string, fn func(Entry)) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if err := scanEntries(f, fn); err != nil {
		return fmt.Errorf("journal %s: %w", name, err)
	}
	return nil
}

// readJournalTail is readJournal over the last max bytes of the file (from
// the first whole line in them).
func readJournalTail(name string, max int64, fn func(Entry)) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	var r io.Reader = f
	if off := st.Size() - max; off > 0 {
		br := bufio.NewReader(io.NewSectionReader(f, off, max))
		if _, err := br.ReadBytes('\n'); err != nil { // a partial line
			return nil
		}
		r = br
	}
	if err := scanEntries(r, fn); err != nil {
		return fmt.Errorf("journal %s: %w", name, err)
	}
	return nil
}

// scanEntries calls fn for every well-formed line of r.
func scanEntries(r io.Reader, fn func(Entry)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var e Entry
			if json.Unmarshal(line, &e) == nil && e.Key != "" {
				fn(e)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

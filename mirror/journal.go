package mirror

import (
	"bufio"
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
// skip and the next OpenJournal terminates.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
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
	Result     Outcome   `json:"result"` // stored, exists, not_found, redirect, failed
	Error      string    `json:"error,omitempty"`
}

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
	return &Journal{f: f, path: path}, nil
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
// concurrent use.
func (j *Journal) Append(e Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
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
// keys whose last outcome is "failed". The last outcome is the entry with the
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
			seen[e.Key] = last{t: e.Time, failed: e.Result == OutcomeFailed}
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
	br := bufio.NewReaderSize(f, 64<<10)
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
			return fmt.Errorf("journal %s: %w", name, err)
		}
	}
}

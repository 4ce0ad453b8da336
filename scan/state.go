package scan

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

// manifest is the failure manifest of one run: JSON lines of KeyError,
// readable as a key list (--keys). Created on the first failure.
type manifest struct {
	mu   sync.Mutex
	dir  StateDir // "": keep no manifest
	path string
	f    *os.File
	w    *bufio.Writer
}

func (m *manifest) add(e KeyError) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dir == "" {
		return nil
	}
	if m.f == nil {
		if err := os.MkdirAll(m.dir.scanDir(), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(m.dir.failureManifest(time.Now()), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		m.f, m.path, m.w = f, f.Name(), bufio.NewWriter(f)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	m.w.Write(b)
	return m.w.WriteByte('\n')
}

// sync makes every failure recorded so far durable.
func (m *manifest) sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	if err := m.w.Flush(); err != nil {
		return err
	}
	return m.f.Sync()
}

func (m *manifest) close() error {
	if err := m.sync(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f == nil {
		return nil
	}
	return m.f.Close()
}

// ManifestKeys reads the failure manifests matching glob and returns their
// keys, sorted and without duplicates. A torn last line is ignored.
func ManifestKeys(glob string) ([]string, error) {
	files, err := filepath.Glob(glob)
	if err != nil {
		return nil, fmt.Errorf("manifest pattern %q: %w", glob, err)
	}
	seen := map[string]bool{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		kr := NewKeyReader(f, name)
		for {
			e, err := kr.Next()
			if err == io.EOF {
				break
			}
			var le *LineError
			if errors.As(err, &le) {
				continue // torn line of a killed run
			}
			if err != nil {
				f.Close()
				return nil, err
			}
			seen[e.Key] = true
		}
		f.Close()
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// checkpoint is what an interrupted run leaves for the next one.
type checkpoint struct {
	RunID   string    `json:"run_id"`
	Mode    string    `json:"mode"`
	Entries int64     `json:"entries"`  // key-list entries fully processed, in order
	Hash    string    `json:"hash"`     // of those entries' lines
	LastKey string    `json:"last_key"` // the last of them
	Updated time.Time `json:"updated"`
}

func readCheckpoint(path, runID string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil || c.RunID != runID {
		return nil, nil // unreadable or another run's: start over
	}
	return &c, nil
}

func writeCheckpoint(path string, c checkpoint) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tracker follows which entries are done and the contiguous low-water mark.
type tracker struct {
	mu      sync.Mutex
	next    int64 // lowest sequence number not done
	pending map[int64]trackEntry
	last    trackEntry
}

type trackEntry struct {
	hash uint64
	key  string
}

func newTracker(start int64) *tracker {
	return &tracker{next: start, pending: map[int64]trackEntry{}}
}

func (t *tracker) done(seq int64, e trackEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending[seq] = e
	for {
		p, ok := t.pending[t.next]
		if !ok {
			return
		}
		delete(t.pending, t.next)
		t.last = p
		t.next++
	}
}

func (t *tracker) mark() (int64, trackEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next, t.last
}

// lineHash folds one line into a running FNV-1a 64 hash.
func lineHash(h uint64, line []byte) uint64 {
	const prime = 1099511628211
	for _, c := range line {
		h ^= uint64(c)
		h *= prime
	}
	h ^= '\n'
	h *= prime
	return h
}

const hashStart uint64 = 14695981039346656037

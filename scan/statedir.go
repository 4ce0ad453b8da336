package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
)

// StateDir is the state directory (the state_dir setting): what ferry
// remembers between runs. This is every file it holds and who writes it:
//
//	scan/failed-<UTC time>-<pid>.jsonl  scan, finalize: one KeyError line per failed key
//	                                    (a valid --keys list); read by finalize
//	scan/checkpoint-<hash>.json         scan, finalize: how far an interrupted key-list run
//	                                    got, named by a hash of its RunID; read by the next
//	                                    run with the same RunID, removed when one completes
//	serve-journal-<host>.jsonl          serve: one mirror.Entry line per fill outcome, one
//	                                    file per host; read by finalize
//	journal/*.jsonl                     serve journals of other hosts, copied in by the
//	                                    operator; read by finalize
//	rules-backup-<UTC time>.yaml        ferry rules clear, finalize --remove-rules: the
//	                                    removed rules: section (see the rules package)
//
// Every file is append-only JSON lines or replaced whole by a rename; a
// reader skips a torn last line left by a crash.
type StateDir string

// scanDir holds scan's files.
func (d StateDir) scanDir() string { return filepath.Join(string(d), "scan") }

// failureManifest names a new failure manifest.
func (d StateDir) failureManifest(now time.Time) string {
	return filepath.Join(d.scanDir(), fmt.Sprintf("failed-%s-%d.jsonl", now.UTC().Format("20060102T150405.000Z"), os.Getpid()))
}

// Manifests is the glob of every failure manifest.
func (d StateDir) Manifests() string { return filepath.Join(d.scanDir(), "failed-*.jsonl") }

// checkpoint names the checkpoint of the run called runID.
func (d StateDir) checkpoint(runID string) string {
	sum := sha256.Sum256([]byte(runID))
	return filepath.Join(d.scanDir(), "checkpoint-"+hex.EncodeToString(sum[:8])+".json")
}

// ServeJournal names this host's serve journal.
func (d StateDir) ServeJournal() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "local"
	}
	return filepath.Join(string(d), "serve-journal-"+host+".jsonl")
}

// Journals are the globs of the serve journals finalize reads by default.
func (d StateDir) Journals() []string {
	return []string{filepath.Join(string(d), "serve-journal-*.jsonl"), filepath.Join(string(d), "journal", "*.jsonl")}
}

// FailedKeys returns, sorted and once each, the keys that failed before:
// every key of the state dir's failure manifests, and every key whose last
// outcome in a serve journal is failed. journals are globs of journal
// files; none means d.Journals(). A malformed glob is an error wrapping
// filepath.ErrBadPattern.
func (d StateDir) FailedKeys(journals []string) ([]string, error) {
	seen := map[string]bool{}
	mk, err := ManifestKeys(d.Manifests())
	if err != nil {
		return nil, err
	}
	for _, k := range mk {
		seen[k] = true
	}
	if len(journals) == 0 {
		journals = d.Journals()
	}
	for _, g := range journals {
		files, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("journal %q: %w", g, err)
		}
		if len(files) == 0 {
			continue
		}
		keys, err := mirror.FailedKeys(g)
		if err != nil {
			return nil, fmt.Errorf("journal %s: %w", g, err)
		}
		for _, k := range keys {
			seen[k] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// CheckJournals reports the first malformed journal glob (an error wrapping
// filepath.ErrBadPattern), so a bad flag is refused before any work.
func CheckJournals(journals []string) error {
	for _, g := range journals {
		if _, err := filepath.Match(g, ""); errors.Is(err, filepath.ErrBadPattern) {
			return fmt.Errorf("%q: %w", g, err)
		}
	}
	return nil
}

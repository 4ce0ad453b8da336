package scan

import "sync"

// outcome is what became of one key: what the stages that finish a key
// (the listing's join, check, transfer, verify, keyFailed) hand to record,
// the one place that counts it.
type outcome struct {
	kind        outcomeKind
	bytes       int64     // present: the target's size; copied: the bytes stored; missing: the listed size
	sizeDiffers bool      // CompareSize: the listed size and the target's differ
	compared    bool      // the content was compared (Checksum)
	differs     bool      // ... and differs
	failure     *KeyError // kind outFailed
}

type outcomeKind uint8

const (
	outPresent  outcomeKind = iota // already in the target
	outCopied                      // stored now
	outLostRace                    // fetched, but the create-only write found it stored meanwhile
	outMissing                     // dry run: would be copied; verify: gone from the target
	outVanished                    // listed, then gone from the origin
	outFailed                      // a per-key failure, written to the manifest
)

// event is a step of the run that is not a key's outcome.
type event uint8

const (
	evListed     event = iota // a source key passed the filters (bytes: its size)
	evCheck                   // an existence check on the target
	evRetry                   // a transient error retried
	evOutOfOrder              // a listing entry out of byte order
)

// tally holds a run's counters and samples behind one lock. Keys from
// Options.Extra that are already present are not counted as skipped: they
// are not part of the source.
type tally struct {
	mu      sync.Mutex
	st      Stats
	res     *Result // samples
	samples int
	failRun int64 // failures in a row, to stop a run whose target or origin is down
	// unlistedSeen: the origin paths counted in st.Unlisted
	unlistedSeen map[string]bool
}

// record counts one key's outcome and returns the number of failures in a
// row it leaves.
func (t *tally) record(it item, o outcome) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, res := &t.st, t.res
	switch o.kind {
	case outPresent, outLostRace:
		if o.kind == outLostRace {
			s.LostRace++
		}
		if !it.extra {
			s.Skipped++
			s.SkippedBytes += o.bytes
		}
	case outCopied:
		s.Copied++
		s.CopiedBytes += o.bytes
		t.sample(&res.CopiedKeys, it.key)
	case outMissing:
		s.Missing++
		s.MissingBytes += o.bytes
		t.sample(&res.MissingKeys, it.key)
	case outVanished:
		s.Vanished++
		t.sample(&res.VanishedKeys, it.key)
	case outFailed:
		s.Failed++
		if len(res.Failures) < t.samples {
			res.Failures = append(res.Failures, *o.failure)
		}
	}
	if o.sizeDiffers {
		s.SizeMismatch++
		t.sample(&res.SizeMismatchKeys, it.key)
	}
	if o.compared {
		s.Verified++
		if o.differs {
			s.ContentDiffer++
			t.sample(&res.ContentKeys, it.key)
		}
	}
	switch o.kind {
	case outFailed:
		t.failRun++
	case outCopied, outLostRace, outVanished:
		t.failRun = 0
	}
	return t.failRun
}

// note counts an event.
func (t *tally) note(e event, bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e {
	case evListed:
		t.st.Listed++
		t.st.ListedBytes += max(bytes, 0)
	case evCheck:
		t.st.Checks++
	case evRetry:
		t.st.Retries++
	case evOutOfOrder:
		t.st.OutOfOrder++
	}
}

// unlisted counts a path of the origin its listing could not list, once
// however many of the run's listings met it.
func (t *tally) unlisted(path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unlistedSeen[path] {
		return
	}
	if t.unlistedSeen == nil {
		t.unlistedSeen = make(map[string]bool)
	}
	t.unlistedSeen[path] = true
	t.st.Unlisted++
	t.sample(&t.res.UnlistedPaths, path)
}

func (t *tally) sample(list *[]string, key string) {
	if len(*list) < t.samples {
		*list = append(*list, key)
	}
}

// stats returns a snapshot of the counters.
func (t *tally) stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

package mirror

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestJournalConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if err := j.Append(Entry{Key: fmt.Sprintf("w%d/%d", w, i), Result: "failed", Error: strings.Repeat("e", 300)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Entry{Key: "late"}); err == nil {
		t.Fatal("Append after Close succeeded")
	}
	n := 0
	if err := readJournal(path, func(e Entry) {
		n++
		if e.Time.IsZero() {
			t.Error("entry without time")
		}
	}); err != nil {
		t.Fatal(err)
	}
	if n != 800 {
		t.Fatalf("%d entries, want 800", n)
	}
	keys, err := FailedKeys(path)
	if err != nil || len(keys) != 800 {
		t.Fatalf("FailedKeys: %d keys, %v", len(keys), err)
	}
}

// The last outcome per key wins (by time, across files); a torn last line is
// skipped, and reopening the journal starts a fresh line after it.
func TestFailedKeys(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, err := OpenJournal(filepath.Join(dir, "serve-a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Append(Entry{Time: t0, Key: "x", Result: "failed"}))
	must(a.Append(Entry{Time: t0.Add(time.Second), Key: "y", Result: "failed"}))
	must(a.Append(Entry{Time: t0.Add(3 * time.Second), Key: "z", Result: "failed"}))
	must(a.Close())
	b, err := OpenJournal(filepath.Join(dir, "serve-b.jsonl"))
	must(err)
	must(b.Append(Entry{Time: t0.Add(2 * time.Second), Key: "x", Result: "stored"})) // x recovered later
	must(b.Append(Entry{Time: t0, Key: "y", Result: "stored"}))                      // older than y's failure
	must(b.Append(Entry{Time: t0.Add(4 * time.Second), Key: "n", Result: "not_found"}))
	must(b.Close())
	// A crash mid-write leaves a torn line.
	f, err := os.OpenFile(filepath.Join(dir, "serve-b.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	must(err)
	_, err = f.WriteString(`{"time":"2026-01-01T00:00:09Z","key":"torn","res`)
	must(err)
	must(f.Close())

	keys, err := FailedKeys(filepath.Join(dir, "serve-*.jsonl"))
	must(err)
	if want := []string{"y", "z"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("FailedKeys = %v, want %v", keys, want)
	}

	// Reopening after the crash: the next entry gets a line of its own.
	b, err = OpenJournal(filepath.Join(dir, "serve-b.jsonl"))
	must(err)
	must(b.Append(Entry{Time: t0.Add(10 * time.Second), Key: "w", Result: "failed"}))
	must(b.Close())
	keys, err = FailedKeys(filepath.Join(dir, "serve-*.jsonl"))
	must(err)
	if want := []string{"w", "y", "z"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("after reopen FailedKeys = %v, want %v", keys, want)
	}
	if keys, err := FailedKeys(filepath.Join(dir, "none-*.jsonl")); err != nil || len(keys) != 0 {
		t.Fatalf("no files: %v %v", keys, err)
	}
}

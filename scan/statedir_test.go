package scan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
)

// Finalize rechecks the keys that failed before, from the state dir:
// scan's failure manifests and the keys whose last outcome in a serve
// journal is failed (not those a later fill stored).
func TestFinalizeRetriesKeysThatFailedBefore(t *testing.T) {
	src, dst := open(t, fileURL(t)), open(t, fileURL(t))
	fill(t, src, []string{"a", "c", "d", "e"})
	state := StateDir(t.TempDir())
	if err := os.MkdirAll(state.scanDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state.failureManifest(time.Now()), []byte(`{"key":"c","reason":"status","error":"origin 500"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := mirror.OpenJournal(filepath.Join(string(state), "serve-journal-other.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC()
	for _, e := range []mirror.Entry{
		{Time: t0, Key: "d", Result: mirror.OutcomeFailed},
		{Time: t0, Key: "e", Result: mirror.OutcomeFailed},
		{Time: t0.Add(time.Second), Key: "e", Result: mirror.OutcomeStored},
	} {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	keys, err := state.FailedKeys(nil)
	if err != nil || strings.Join(keys, ",") != "c,d" {
		t.Fatalf("FailedKeys = %v, %v", keys, err)
	}
	rep, err := Finalize(context.Background(), Options{Origin: src, Target: dst, Keys: strings.NewReader("a\n"), KeysName: "k", StateDir: string(state)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete || rep.RetriedKeys != 2 || rep.CopiedNow != 3 {
		t.Fatalf("%+v", rep)
	}
	if got := strings.Join(keysOf(t, dst), ","); got != "a,c,d" {
		t.Fatalf("target holds %s", got)
	}
	if _, err := state.FailedKeys([]string{"["}); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("bad journal glob: %v", err)
	}
}

// A dry run counts the bytes it would copy.
func TestDryRunCountsBytes(t *testing.T) {
	src, dst := open(t, fileURL(t)), open(t, fileURL(t))
	keys := []string{"a", "bb", "ccc"}
	fill(t, src, keys)
	var want int64
	for _, k := range keys {
		want += int64(len(content(k)))
	}
	res := runScan(t, Options{Origin: src, Target: dst, DryRun: true})
	if res.Missing != 3 || res.MissingBytes != want || res.ListedBytes != want || res.ProcessedBytes() != want || res.Copied != 0 {
		t.Fatalf("%+v", res.Stats)
	}
}

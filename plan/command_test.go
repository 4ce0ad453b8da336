package plan

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/scan"
)

// The calls of the plan commands: what they refuse before anything is
// opened (*scan.OptionError), what they make and what they say.
func TestPlanCommands(t *testing.T) {
	ctx := context.Background()
	var oe *scan.OptionError
	for _, src := range []Source{{}, {Origin: "o", Keys: "k"}} {
		if _, err := CreateFrom(ctx, CreateOptions{Location: t.TempDir(), Source: src}); !errors.As(err, &oe) || !strings.Contains(err.Error(), "needs one source") {
			t.Errorf("source %+v: %v", src, err)
		}
	}
	if _, err := CreateFrom(ctx, CreateOptions{Location: t.TempDir(), Source: Source{Keys: "k"}, Options: Options{Prefix: "p/"}}); !errors.As(err, &oe) {
		t.Errorf("--prefix with --keys: %v", err)
	}
	loc := filepath.Join(t.TempDir(), "plan")
	keys := func() Source { return Source{Keys: "-", Stdin: strings.NewReader("a\nb\nc\nd\n")} }
	dry, err := CreateFrom(ctx, CreateOptions{Location: loc, DryRun: true, Source: keys(), Options: Options{Partitions: 2}})
	if err != nil || dry.Stored || len(dry.Plan.Partitions) != 2 {
		t.Fatalf("dry run = %+v, %v", dry, err)
	}
	var text bytes.Buffer
	dry.WriteText(&text)
	if strings.Contains(text.String(), "next:") {
		t.Errorf("a dry run suggests working on a plan it did not store:\n%s", text.String())
	}
	made, err := CreateFrom(ctx, CreateOptions{Location: loc, Source: keys(), Options: Options{Partitions: 2}})
	if err != nil || !made.Stored {
		t.Fatalf("create = %+v, %v", made, err)
	}
	text.Reset()
	made.WriteText(&text)
	if !strings.Contains(text.String(), "next: ferry scan --plan "+loc+" --worker") {
		t.Errorf("no next step:\n%s", text.String())
	}
	st, err := StatusOf(ctx, loc, scan.Prices{})
	var ie *scan.IncompleteError
	if err != nil || !errors.As(st.Err(), &ie) || st.Err().Error() != "plan not complete: 0 of 2 partitions done" {
		t.Errorf("status of a new plan = %v, %v", st, err)
	}
	for _, so := range []ScanOptions{
		{Location: loc, Partition: -1},
		{Location: loc, Partition: 0, Worker: true},
		{Location: loc, Partition: 0, Work: WorkOptions{Scan: scan.Options{KeysName: "k"}}},
		{Location: loc, Partition: 0, Work: WorkOptions{Scan: scan.Options{Shards: 2}}},
		{Location: loc, Partition: 9},
		{Location: loc, Partition: 0, Rules: func() (*rules.Set, error) { return &rules.Set{}, nil }},
	} {
		if res, err := Scan(ctx, so); res != nil || !errors.As(err, &oe) {
			t.Errorf("Scan(%+v) = %v, %v; want an *scan.OptionError", so, res, err)
		}
	}
	var warn bytes.Buffer
	if failed, err := FailedKeys(ctx, loc, &warn, slog.New(slog.DiscardHandler)); err != nil || len(failed) != 0 ||
		!strings.Contains(warn.String(), "2 of 2 partitions are not done") {
		t.Errorf("FailedKeys = %v, %v, %q", failed, err, warn.String())
	}
}

package plan

import (
	"context"
	"fmt"
	"testing"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
)

// A directory origin written by fileblob holds keys under escaped file
// names ("a\tb" is the file a__0x9__b, "x//y" is x/__0x2f__y, a trailing
// "/" is __0x2f__), which its listing sorts by those names while a plan's
// ranges are cut at keys: with 3, 8 and 20 partitions every such key, and
// every other one, is copied by some partition and the plan completes.
func TestRangePlanOfEscapedKeys(t *testing.T) {
	ctx := context.Background()
	origin, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	keys := nestedKeys()
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("flat/%04d\tx", i*7), fmt.Sprintf("flat/%04dd//y", i*7+3), fmt.Sprintf("img/%de/", i), fmt.Sprintf("a/0%d/__0x41__%d", i%7, i))
	}
	for _, k := range keys {
		if err := origin.WriteAll(ctx, k, []byte(k), nil); err != nil {
			t.Fatal(k, err)
		}
	}
	for _, parts := range []int{3, 8, 20} {
		st := memState(t)
		if _, err := Create(ctx, st, FromOrigin(origin, "dir", Options{Partitions: parts, Listers: 3})); err != nil {
			t.Fatal(err)
		}
		tgt, err := store.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		wo := WorkOptions{Scan: scan.Options{Origin: origin, Target: tgt}, StateDir: t.TempDir(), Worker: "w", MaxAttempts: 1}
		res, err := Work(ctx, st, wo)
		if err != nil || res.Incomplete() {
			t.Errorf("%d partitions: %v incomplete %v", parts, err, res.Incomplete())
		}
		missing := 0
		for _, k := range keys {
			if ok, _ := tgt.Exists(ctx, k); !ok {
				missing++
				if missing < 5 {
					t.Errorf("%d partitions: %q missing", parts, k)
				}
			}
		}
		if missing > 0 {
			t.Errorf("%d partitions: %d of %d keys missing", parts, missing, len(keys))
		}
		tgt.Close()
	}
}

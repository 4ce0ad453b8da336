package plan

import (
	"context"
	"testing"

	"github.com/ferry-migrate/ferry/internal/gcstest"
	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
)

// TestStateOnGCS: a plan kept in a gs:// location (a reserved prefix of a
// GCS target) is shared as in any other: its completion markers are
// create-only there too, so a partition done twice is counted once.
func TestStateOnGCS(t *testing.T) {
	s := gcstest.New(t)
	ctx := context.Background()
	b, err := store.Open(ctx, s.URL(s.NewBucket(t, "target"), ".ferry/plan"))
	if err != nil {
		t.Fatal(err)
	}
	st := NewState(b, "gs://target/.ferry/plan")
	t.Cleanup(func() { st.Close() })
	keyPlan(t, st, 10, 5)
	f := &fakeRun{seen: map[string]int{}}
	w := &worker{st: st, p: mustLoad(t, st), o: WorkOptions{Run: f.run, Worker: "a"}}
	w.o.setDefaults()
	r1, err1 := w.attempt(ctx, 0, 1)
	r2, err2 := w.attempt(ctx, 0, 2)
	if err1 != nil || err2 != nil || !r1.Counted || r2.Counted {
		t.Fatalf("%v %v %+v %+v", err1, err2, r1, r2)
	}
	if _, err := w.attempt(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	s2, err := ReadStatus(ctx, st, scan.Prices{})
	if err != nil || !s2.Complete || s2.Totals.Copied != 10 || s2.Counts[PartDone] != 2 {
		t.Fatalf("%v %+v %+v", err, s2.Totals, s2.Counts)
	}
}

package plan

import (
	"context"
	"testing"

	"github.com/ferry-migrate/ferry/internal/gcstest"
	"github.com/ferry-migrate/ferry/store"
)

// TestStateOnGCS: a plan kept in a gs:// location (a reserved prefix of a
// GCS target) is shared as in any other: its completion markers are
// create-only there too, so a partition done twice is counted once.
func TestStateOnGCS(t *testing.T) {
	s := gcstest.New(t)
	b, err := store.Open(context.Background(), s.URL(s.NewBucket(t, "target"), ".ferry/plan"))
	if err != nil {
		t.Fatal(err)
	}
	st := NewState(b, "gs://target/.ferry/plan")
	t.Cleanup(func() { st.Close() })
	doneTwiceCountedOnce(t, st)
}

package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// An S3 Inventory report read from a bucket, as S3 writes it, and a plan
// stored in a bucket: create-only there too.
func TestInventoryAndStateOnMinIO(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	bucket := s.NewBucket(t)
	dir := t.TempDir()
	manifest := writeInventory(t, dir, false)
	b, err := store.Open(ctx, s.URL(bucket, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		return b.WriteAll(ctx, filepath.ToSlash(rel), data, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(dir, manifest)
	url := s.URL(bucket, filepath.ToSlash(rel))
	build, closeInv, err := FromInventory(ctx, url, Options{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer closeInv()
	st, err := Open(ctx, s.URL(s.NewBucket(t), "plans/x"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := Create(ctx, st, build)
	if err != nil {
		t.Fatal(err)
	}
	if p.Totals.Objects != 5 || p.Totals.Bytes != 42 || !strings.Contains(p.Source, "manifest.json") {
		t.Fatalf("%+v", p)
	}
	if err := st.create(ctx, planKey, p); !store.IsExists(err) {
		t.Fatalf("plan.json written twice: %v", err)
	}
	if _, _, err := FromInventory(ctx, s.URL(bucket, ""), Options{}); err == nil || !strings.Contains(err.Error(), "names a bucket") {
		t.Fatalf("a bucket without the manifest: %v", err)
	}
}

package mirror

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ferry-migrate/ferry/internal/azuritetest"
	"github.com/ferry-migrate/ferry/store"
)

// TestAzureLostCreateOnlyWrite: a fill's create-only write into an azblob://
// target whose key another writer stored first is a lost race (stored
// false, no error), not a crash: gocloud's azureblob writer panics in Close
// when its upload failed.
func TestAzureLostCreateOnlyWrite(t *testing.T) {
	s := azuritetest.Get(t)
	ctx := context.Background()
	target, err := store.Open(ctx, s.URL(s.NewContainer(t), ""))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, target, nil)
	if err := target.WriteAll(ctx, "k", []byte("first"), nil); err != nil {
		t.Fatal(err)
	}
	body := payload(64<<10, 1)
	stored, n, err := e.m.commit(ctx, "k", &store.Meta{Size: int64(len(body))}, bytes.NewReader(body), commitPlan{})
	if err != nil || stored || n != int64(len(body)) {
		t.Fatalf("commit over an existing key: stored %v, %d bytes, %v", stored, n, err)
	}
	if got := e.stored("k"); string(got) != "first" {
		t.Fatalf("target holds %q, want the first writer's object", got)
	}
}

// TestCloseWriterRecovers: a driver whose Close panics fails the write.
func TestCloseWriterRecovers(t *testing.T) {
	if err := closeWriter(panicCloser{}); !errors.Is(err, errWriterPanicked) {
		t.Fatalf("closeWriter: %v", err)
	}
}

type panicCloser struct{}

func (panicCloser) Close() error { panic("nil pipe") }

package store_test

import (
	"context"
	"testing"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

func TestOpenMinIOSmoke(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	b, err := store.Open(ctx, s.BucketURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "a/b", []byte("hi"), nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.ReadAll(ctx, "a/b")
	if err != nil || string(got) != "hi" {
		t.Fatalf("got %q %v", got, err)
	}
	_, err = store.Open(ctx, s.URL("nosuchbucket", ""))
	t.Log(err)
	if err == nil {
		t.Fatal("want error")
	}
}

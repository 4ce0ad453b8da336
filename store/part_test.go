package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob/memblob"
)

// partGot is what a part read gave, in comparable form.
type partGot struct {
	Meta                  store.Meta
	Body                  []byte
	Offset, Length        int64
	Parts                 int
	NoPart, NotFound, Err bool
}

func readPart(t *testing.T, b *store.Bucket, key string, number int, head bool) partGot {
	t.Helper()
	read := b.GetPart
	if head {
		read = b.HeadPart
	}
	o, err := read(context.Background(), key, number)
	if err != nil {
		return partGot{NoPart: store.IsInvalidPart(err), NotFound: store.IsNotFound(err), Err: true}
	}
	g := partGot{Meta: o.Meta, Offset: o.Offset, Length: o.Length, Parts: o.Parts}
	if o.Body != nil {
		if head {
			t.Errorf("HeadPart %q %d: a body", key, number)
		}
		data, err := io.ReadAll(o.Body)
		o.Body.Close()
		if err != nil {
			t.Fatalf("GetPart %q %d: %v", key, number, err)
		}
		g.Body = data
	}
	if len(g.Meta.Metadata) == 0 {
		g.Meta.Metadata = nil
	}
	g.Meta.LastModified = g.Meta.LastModified.UTC()
	return g
}

// fill returns n bytes of pattern seed.
func fill(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i%251)
	}
	return b
}

// A part read of an S3 bucket asks the target for the part: the direct
// path and the SDK's (GET and HEAD) give the same part, whole size and
// parts count for a multipart object, part 1 of a single-part object is
// the whole object, and a part beyond the object's is IsInvalidPart.
func TestPartReads(t *testing.T) {
	s := miniotest.Get(t)
	ctx := context.Background()
	name := s.NewBucket(t)
	const mib = 1 << 20
	parts := [][]byte{fill(5*mib, 1), fill(5*mib, 2), fill(1000, 3)}
	whole := bytes.Join(parts, nil)
	single := fill(1234, 4)
	for _, prefix := range []string{"", "scoped"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			direct, sdk := openBoth(t, s.URL(name, prefix))
			full := "mp"
			if prefix != "" {
				full = prefix + "/mp"
			}
			s.PutMultipart(t, name, full, parts...)
			// "x__0x41__" is stored under an escaped name: the SDK's HEAD
			// takes a GET of the part.
			for key, body := range map[string][]byte{"single": single, "empty": nil, "x__0x41__": single} {
				if err := sdk.WriteAll(ctx, key, body, nil); err != nil {
					t.Fatal(err)
				}
			}
			for _, key := range []string{"mp", "single", "empty", "x__0x41__", "missing"} {
				for n := 1; n <= 4; n++ {
					get, head := readPart(t, direct, key, n, false), readPart(t, direct, key, n, true)
					if w := readPart(t, sdk, key, n, false); !reflect.DeepEqual(get, w) {
						t.Errorf("GetPart %q %d:\ndirect %+v\nsdk    %+v", key, n, summary(get), summary(w))
					}
					if w := readPart(t, sdk, key, n, true); !reflect.DeepEqual(head, w) {
						t.Errorf("HeadPart %q %d:\ndirect %+v\nsdk    %+v", key, n, summary(head), summary(w))
					}
					get.Body = nil
					if !reflect.DeepEqual(get, head) {
						t.Errorf("%q %d: GetPart %+v, HeadPart %+v", key, n, summary(get), summary(head))
					}
				}
			}
			var off int64
			for i, p := range parts {
				g := readPart(t, direct, "mp", i+1, false)
				if !bytes.Equal(g.Body, p) || g.Offset != off || g.Length != int64(len(p)) || g.Meta.Size != int64(len(whole)) || g.Parts != 3 {
					t.Errorf("mp part %d: %+v", i+1, summary(g))
				}
				off += int64(len(p))
			}
			if g := readPart(t, direct, "mp", 4, false); !g.NoPart || g.NotFound {
				t.Errorf("mp part 4: %+v", g)
			}
			if g := readPart(t, direct, "single", 1, false); !bytes.Equal(g.Body, single) || g.Offset != 0 || g.Length != 1234 || g.Meta.Size != 1234 || g.Parts != 0 {
				t.Errorf("single part 1: %+v", summary(g))
			}
			if g := readPart(t, direct, "single", 2, true); !g.NoPart {
				t.Errorf("single part 2: %+v", g)
			}
			if g := readPart(t, direct, "empty", 1, false); g.Err || len(g.Body) != 0 || g.Length != 0 || g.Meta.Size != 0 {
				t.Errorf("empty part 1: %+v", summary(g))
			}
			if g := readPart(t, direct, "missing", 1, true); !g.NotFound || g.NoPart {
				t.Errorf("missing: %+v", g)
			}
		})
	}
}

func summary(g partGot) string {
	body := g.Body
	g.Body = nil
	return fmt.Sprintf("%+v body=%d bytes", g, len(body))
}

// A bucket without parts keeps every object in one piece: part 1 is the
// whole object (the Meta only; the caller reads the bytes), no other part
// exists.
func TestPartReadsOnePiece(t *testing.T) {
	ctx := context.Background()
	b := store.Wrap(memblob.OpenBucket(nil))
	defer b.Close()
	if err := b.WriteAll(ctx, "k", []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	for _, head := range []bool{false, true} {
		if g := readPart(t, b, "k", 1, head); g.Err || g.Body != nil || g.Offset != 0 || g.Length != 5 || g.Meta.Size != 5 || g.Parts != 0 {
			t.Errorf("part 1 (head %v): %+v", head, g)
		}
		if g := readPart(t, b, "k", 2, head); !g.NoPart || g.NotFound {
			t.Errorf("part 2 (head %v): %+v", head, g)
		}
		if g := readPart(t, b, "missing", 1, head); !g.NotFound || g.NoPart {
			t.Errorf("missing (head %v): %+v", head, g)
		}
	}
}

package mirror

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob/fileblob"
)

// BenchmarkFanout100x64MiB: 100 readers follow one 64 MiB fill into a
// fileblob target. Allocated bytes per op show that memory is O(buffer) per
// fill and per reader, not O(object size × readers) (6.4 GiB).
//
//	go test -run '^$' -bench Fanout100x64MiB -benchtime 2x ./mirror/
func BenchmarkFanout100x64MiB(b *testing.B) {
	const size, readers = 64 << 20, 100
	body := payload(size, 10)
	var gate atomic.Pointer[chan struct{}]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = w.Write(body[:1<<20])
		w.(http.Flusher).Flush()
		<-*gate.Load() // hold the rest until every reader joined
		_, _ = w.Write(body[1<<20:])
	}))
	defer srv.Close()
	target, err := fileblob.OpenBucket(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(Options{Target: store.Wrap(target), SpoolDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()

	b.SetBytes(size * readers)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g := make(chan struct{})
		gate.Store(&g)
		req := Request{Rules: ruleSet(httpRule(srv.URL)), Key: fmt.Sprintf("bench/%d", i)}
		var joined, done sync.WaitGroup
		var failed atomic.Int64
		joined.Add(readers)
		done.Add(readers)
		for range readers {
			go func() {
				defer done.Done()
				s, err := m.Get(context.Background(), req)
				joined.Done()
				if err != nil {
					failed.Add(1)
					return
				}
				defer s.Close()
				r := s.NewReader(0, -1)
				n, err := io.Copy(io.Discard, r)
				_ = r.Close()
				if err != nil || n != size {
					failed.Add(1)
				}
			}()
		}
		joined.Wait()
		close(g)
		done.Wait()
		if failed.Load() != 0 {
			b.Fatalf("%d readers failed", failed.Load())
		}
	}
}

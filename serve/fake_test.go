package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ferry-migrate/ferry/mirror"
)

// fakeFiller stands in for the mirror engine in handler tests: it answers
// from a map of objects (or errors) and counts origin calls.
type fakeFiller struct {
	mu      sync.Mutex
	objects map[string]fakeObject
	errs    map[string]error
	gets    atomic.Int64
	heads   atomic.Int64
	reqs    []mirror.Request
}

type fakeObject struct {
	meta   mirror.Meta
	data   []byte
	failAt int           // >0: the reader fails after this many bytes
	gate   chan struct{} // non-nil: the second half waits for it to close
}

func newFakeFiller() *fakeFiller {
	return &fakeFiller{objects: map[string]fakeObject{}, errs: map[string]error{}}
}

func (f *fakeFiller) Get(ctx context.Context, req mirror.Request) (FillStream, error) {
	f.gets.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if err := f.errs[req.Key]; err != nil {
		return nil, err
	}
	o, ok := f.objects[req.Key]
	if !ok {
		return nil, mirror.ErrNotFound
	}
	return &fakeStream{o: o}, nil
}

func (f *fakeFiller) Head(ctx context.Context, req mirror.Request) (*mirror.Meta, error) {
	f.heads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if err := f.errs[req.Key]; err != nil {
		return nil, err
	}
	o, ok := f.objects[req.Key]
	if !ok {
		return nil, mirror.ErrNotFound
	}
	m := o.meta
	return &m, nil
}

func (f *fakeFiller) Shutdown(ctx context.Context) error { return nil }

func (f *fakeFiller) calls() int64 { return f.gets.Load() + f.heads.Load() }

type fakeStream struct{ o fakeObject }

func (s *fakeStream) Meta() mirror.Meta { return s.o.meta }
func (s *fakeStream) Coalesced() bool   { return false }
func (s *fakeStream) Close() error      { return nil }
func (s *fakeStream) NewReader(off, n int64) io.ReadCloser {
	data := s.o.data
	if s.o.failAt > 0 {
		return io.NopCloser(io.MultiReader(bytes.NewReader(data[off:s.o.failAt]), errReader{errors.New("origin died mid-body")}))
	}
	if s.o.gate != nil {
		half := int64(len(data)) / 2
		return io.NopCloser(io.MultiReader(bytes.NewReader(data[:half]), gateReader{s.o.gate}, bytes.NewReader(data[half:])))
	}
	end := int64(len(data))
	if n >= 0 && off+n < end {
		end = off + n
	}
	return io.NopCloser(bytes.NewReader(data[off:end]))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// gateReader blocks until its channel is closed, then reports EOF.
type gateReader struct{ c chan struct{} }

func (g gateReader) Read([]byte) (int, error) {
	<-g.c
	return 0, io.EOF
}

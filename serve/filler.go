package serve

import (
	"context"
	"io"

	"github.com/ferry-migrate/ferry/mirror"
)

// Filler is what serve needs from the mirror engine: *mirror.Mirror through
// MirrorFiller, or a fake in tests.
type Filler interface {
	// Get starts or joins the fill of req.Key; errors as mirror.Get.
	Get(ctx context.Context, req mirror.Request) (FillStream, error)
	// Head asks the origin for the object's headers without storing.
	Head(ctx context.Context, req mirror.Request) (*mirror.Meta, error)
	// Shutdown waits for fills until ctx is done, then cancels the rest.
	Shutdown(ctx context.Context) error
}

// FillStream is one reader's view of a fill (see mirror.Stream).
type FillStream interface {
	Meta() mirror.Meta
	Coalesced() bool
	NewReader(off, n int64) io.ReadCloser
	Close() error
}

// MirrorFiller adapts a *mirror.Mirror to Filler.
func MirrorFiller(m *mirror.Mirror) Filler { return mirrorFiller{m} }

type mirrorFiller struct{ m *mirror.Mirror }

func (f mirrorFiller) Get(ctx context.Context, req mirror.Request) (FillStream, error) {
	s, err := f.m.Get(ctx, req)
	if err != nil {
		return nil, err
	}
	return mirrorStream{s}, nil
}

func (f mirrorFiller) Head(ctx context.Context, req mirror.Request) (*mirror.Meta, error) {
	return f.m.Head(ctx, req)
}

func (f mirrorFiller) Shutdown(ctx context.Context) error { return f.m.Shutdown(ctx) }

type mirrorStream struct{ s *mirror.Stream }

func (s mirrorStream) Meta() mirror.Meta                    { return s.s.Meta }
func (s mirrorStream) Coalesced() bool                      { return s.s.Coalesced }
func (s mirrorStream) NewReader(off, n int64) io.ReadCloser { return s.s.NewReader(off, n) }
func (s mirrorStream) Close() error                         { return s.s.Close() }

package serve

import (
	"io"
	"net/http"
	"os"
	"sync"
)

// A file target's hits are sent straight from the file that
// store.Bucket.OpenFile opened (store reads fileblob's sidecar), small ones
// from a pooled buffer, larger ones with sendfile.

// smallBody: objects up to this size are read into a pooled buffer and
// written in one go (fewer syscalls than sendfile after the sniff write).
const smallBody = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, smallBody); return &b }}

// sendFromFile writes the planned headers' body [off, off+n) of f.
func (s *Server) sendFromFile(w *respWriter, r *http.Request, rc *reqCtx, f *os.File, off, n int64) {
	if n <= smallBody {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf := (*bp)[:n]
		if _, err := f.ReadAt(buf, off); err != nil {
			rc.err = err
			panic(http.ErrAbortHandler)
		}
		if _, err := w.Write(buf); err != nil {
			rc.err = err
		}
		return
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			rc.err = err
			panic(http.ErrAbortHandler)
		}
	}
	if _, err := w.sendFile(f, n); err != nil {
		rc.err = err // the client went away
	}
}

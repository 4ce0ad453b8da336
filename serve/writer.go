package serve

import (
	"io"
	"net/http"
	"os"
	"time"
)

// copyChunk bounds one sendfile/copy step so the idle write deadline is
// refreshed at least this often: a client must take at least this many bytes
// per idle period.
const copyChunk = 256 << 10

// respWriter records status and bytes for the access log and metrics, and
// keeps an idle (not total) write deadline: it is pushed forward before
// every write, so a slow but steady client can take a large object.
type respWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	idle   time.Duration
	status int
	bytes  int64
}

func newRespWriter(w http.ResponseWriter, idle time.Duration) *respWriter {
	rw := &respWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: idle}
	rw.refresh()
	return rw
}

func (w *respWriter) refresh() {
	if w.idle > 0 {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.idle))
	}
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.refresh()
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.refresh()
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// sendFile sends n bytes of f from its current offset through the server's
// sendfile path, one chunk per idle deadline. Chunks start at copyChunk and
// grow (up to maxSendChunk) while the client takes each one in under an
// eighth of the idle timeout, so a fast client needs few sendfile calls and
// a slow one still gets a fresh deadline for every small step.
func (w *respWriter) sendFile(f *os.File, n int64) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, io.LimitReader(f, n))
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var total int64
	chunk := int64(copyChunk)
	for total < n {
		start := time.Now()
		w.refresh()
		// A LimitedReader over the *os.File keeps the server's sendfile path.
		k, err := rf.ReadFrom(&io.LimitedReader{R: f, N: min(chunk, n-total)})
		total += k
		w.bytes += k
		if err != nil {
			return total, err
		}
		if k == 0 {
			return total, io.ErrUnexpectedEOF
		}
		if w.idle <= 0 || time.Since(start) < w.idle/8 {
			chunk = min(chunk*4, maxSendChunk)
		}
	}
	return total, nil
}

// maxSendChunk bounds one sendfile step for fast clients.
const maxSendChunk = 16 << 20

// ReadFrom keeps the server's sendfile path (http.response.ReadFrom with an
// *os.File or a LimitedReader over one) while refreshing the deadline
// between chunks.
func (w *respWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, src)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if lr, ok := src.(*io.LimitedReader); ok && lr.N <= copyChunk {
		// One chunk (sendFile's case): keep the LimitedReader over the file
		// unwrapped so the server can use sendfile.
		w.refresh()
		n, err := rf.ReadFrom(lr)
		w.bytes += n
		return n, err
	}
	var total int64
	for {
		w.refresh()
		n, err := rf.ReadFrom(io.LimitReader(src, copyChunk))
		total += n
		w.bytes += n
		if err != nil || n < copyChunk {
			return total, err
		}
	}
}

// Flush sends buffered bytes to the client now.
func (w *respWriter) Flush() {
	w.refresh()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type writerOnly struct{ io.Writer }

package serve

import (
	"io"
	"net/http"
	"sync"

	"github.com/ferry-migrate/ferry/store"
)

// A hit on a target without a file fast path costs one request to it: a GET
// hit is one GET (asking for the client's range, so the answer's headers and
// body serve the client), a HEAD one HEAD, and a 404 of that same request
// starts the miss path. Conditions and the range are evaluated here, against
// the Meta of the answer (serve/cond.go), the same way for every target.

// serveTarget answers rc.key from the target; st is passed to the miss path.
func (s *Server) serveTarget(w *respWriter, r *http.Request, rc *reqCtx, st *Settings) {
	if rc.part > 0 {
		s.servePart(w, r, rc, st)
		return
	}
	if r.Method == http.MethodHead {
		meta, err := s.opts.Target.Head(r.Context(), rc.key)
		if s.targetMissed(w, r, rc, st, err) {
			return
		}
		s.markHit(w, rc)
		s.plan(w, r, rc, meta, nil)
		return
	}
	obj, err := s.opts.Target.Get(r.Context(), rc.key, targetRange(r.Header))
	if err != nil && store.IsInvalidRange(err) {
		// The object cannot satisfy the range: the answer (416 with the
		// size, or a failed condition first) needs its Meta.
		s.serveFromHead(w, r, rc, st)
		return
	}
	if s.targetMissed(w, r, rc, st, err) {
		return
	}
	s.markHit(w, rc)
	s.sendObject(w, r, rc, obj)
}

// targetRange is the range a GET asks the target for: the client's single
// byte range, or "" (the whole object) for none, a malformed or a multiple
// one, which the answer ignores as S3 does.
func targetRange(h http.Header) string {
	br, ok := parseRange(h.Get("Range"))
	if !ok {
		return ""
	}
	return br.header()
}

func (s *Server) markHit(w *respWriter, rc *reqCtx) {
	rc.outcome = outcomeHit
	w.Header().Set("X-Ferry-Mirror", outcomeHit)
}

// targetMissed answers a failed read of the target: a missing key goes to
// the miss path, a missing bucket is NoSuchBucket, anything else is
// classified. It reports whether it answered.
func (s *Server) targetMissed(w *respWriter, r *http.Request, rc *reqCtx, st *Settings, err error) bool {
	switch {
	case err == nil:
		return false
	case store.IsNoSuchBucket(err):
		rc.outcome = outcomeError
		writeError(w, r, rc, &apiError{errNoSuchBucket.Status, errNoSuchBucket.Code, errNoSuchBucket.Message, err})
	case store.IsNotFound(err):
		s.serveMiss(w, r, rc, st)
	default:
		rc.outcome = outcomeError
		writeError(w, r, rc, err)
	}
	return true
}

// serveFromHead answers a GET whose range the target refused, from a HEAD.
func (s *Server) serveFromHead(w *respWriter, r *http.Request, rc *reqCtx, st *Settings) {
	meta, err := s.opts.Target.Head(r.Context(), rc.key)
	if s.targetMissed(w, r, rc, st, err) {
		return
	}
	s.markHit(w, rc)
	s.sendObject(w, r, rc, &store.Object{Meta: meta})
}

// sendObject plans the answer from obj's Meta and sends its body from
// obj.Body when that holds the planned bytes (it does whenever the target
// answered the range as we evaluate it); otherwise, as after a failed
// If-Range, it reads them with one more request.
func (s *Server) sendObject(w *respWriter, r *http.Request, rc *reqCtx, obj *store.Object) {
	off, n, ok := s.plan(w, r, rc, obj.Meta, nil)
	if !ok || n == 0 {
		discard(obj)
		return
	}
	if obj.Body == nil || off < obj.Offset || (obj.Length >= 0 && off+n > obj.Offset+obj.Length) {
		discard(obj)
		s.serveHit(w, r, rc, off, n)
		return
	}
	defer obj.Body.Close()
	if skip := off - obj.Offset; skip > 0 {
		if _, err := io.CopyN(io.Discard, obj.Body, skip); err != nil {
			rc.err = err
			panic(http.ErrAbortHandler)
		}
	}
	s.copyBody(w, r, rc, obj.Body, n)
}

// discardMax: an unread body up to this size is drained so the target's
// connection is kept; a bigger one is closed.
const discardMax = 256 << 10

// discard releases the body of an answer that is not sent (304, 412, 416).
func discard(obj *store.Object) {
	if obj.Body == nil {
		return
	}
	if obj.Length >= 0 && obj.Length <= discardMax {
		_, _ = io.Copy(io.Discard, obj.Body)
	}
	_ = obj.Body.Close()
}

// serveHit sends bytes [off, off+n) of the object, read through the bucket.
func (s *Server) serveHit(w *respWriter, r *http.Request, rc *reqCtx, off, n int64) {
	rd, err := s.opts.Target.NewRangeReader(r.Context(), rc.key, off, n, nil)
	if err != nil {
		// Headers are out: the client must see a broken transfer.
		rc.err = err
		panic(http.ErrAbortHandler)
	}
	defer rd.Close()
	s.copyBody(w, r, rc, rd, n)
}

// copyBody sends n bytes of rd; a short or failed read aborts the response.
// A small body is read into a pooled buffer and written with the headers in
// one go (as sendFromFile does).
func (s *Server) copyBody(w *respWriter, r *http.Request, rc *reqCtx, rd io.Reader, n int64) {
	if n <= smallBody {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf := (*bp)[:n]
		if _, err := io.ReadFull(rd, buf); err != nil {
			rc.err = err
			if r.Context().Err() == nil {
				panic(http.ErrAbortHandler)
			}
			return
		}
		if _, err := w.Write(buf); err != nil {
			rc.err = err // the client went away
		}
		return
	}
	if err := copyLarge(w, rd, n); err != nil {
		rc.err = err
		if r.Context().Err() == nil {
			panic(http.ErrAbortHandler)
		}
	}
}

// largeBufSize is the buffer of a large body's copy: each read takes what
// the target's connection holds, up to this, and each write sends it on
// (io.Copy's 32 KiB steps cost a read and a write syscall for every 32 KiB,
// and an allocation of the buffer for every copyChunk).
const largeBufSize = 256 << 10

var largeBufPool = sync.Pool{New: func() any { b := make([]byte, largeBufSize); return &b }}

// copyLarge sends exactly n bytes of rd to w; a short body is
// io.ErrUnexpectedEOF.
func copyLarge(w *respWriter, rd io.Reader, n int64) error {
	bp := largeBufPool.Get().(*[]byte)
	defer largeBufPool.Put(bp)
	buf := *bp
	for sent := int64(0); sent < n; {
		k, err := rd.Read(buf[:min(int64(len(buf)), n-sent)])
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
			sent += int64(k)
		}
		switch {
		case err == io.EOF && sent < n:
			return io.ErrUnexpectedEOF
		case err != nil && err != io.EOF:
			return err
		}
	}
	return nil
}

// responseOverrides are the query parameters with which a GET or HEAD asks
// for other response headers (S3's response-content-type and the like).
var responseOverrides = [...]struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// setOverrides applies the response-* query parameters to h, as S3 does on
// GET and HEAD (a parameter given empty sets the header empty, as MinIO
// does).
func setOverrides(h http.Header, r *http.Request) {
	if r.URL.RawQuery == "" {
		return
	}
	q := r.URL.Query()
	for _, o := range responseOverrides {
		if v, ok := q[o.param]; ok {
			h[o.header] = v[:1]
		}
	}
}

// fillMeta is the Meta of an answer from the origin, with the user metadata
// the fill stores, so the fill and every later hit send the same
// x-amz-meta-* headers.
func fillMeta(m store.Meta) store.Meta {
	m.Metadata = m.StoredMetadata()
	return m
}

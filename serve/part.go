package serve

import (
	"net/http"
	"strconv"

	"github.com/ferry-migrate/ferry/store"
)

// GET and HEAD with ?partNumber=N read one part of an object, as S3 does:
// the part's bytes as a 206 with Content-Range (an empty object: 200), and
// x-amz-mp-parts-count when the object was uploaded in parts. An S3 target
// is asked for the part itself (one request, as every hit); an object
// stored in one piece (a file target's, a bucket's without parts, a fill
// from the origin) has exactly one part, the whole object.

// partNumber returns the partNumber of r, 0 when it has none. A value that
// is not an integer 1..10000 is 400 InvalidArgument, and partNumber with a
// Range header 400 InvalidRequest, both before any IO, as S3 answers.
func partNumber(r *http.Request) (int, error) {
	if r.URL.RawQuery == "" {
		return 0, nil
	}
	vs, ok := r.URL.Query()["partNumber"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 1 || n > store.MaxParts {
		return 0, &argumentError{errPartNumberArg, "partNumber", vs[0]}
	}
	if r.Header.Get("Range") != "" {
		return 0, errRangeAndPart
	}
	return n, nil
}

// part is what a partNumber request selects: bytes [off, off+n) of the
// object (n < 0: an object of unknown size, all of it), and the object's
// parts count the target reported (0: none, as for an object in one piece).
type part struct {
	off, n int64
	count  int
}

// partOf is the part a part read of the target answered.
func partOf(o *store.Object) *part { return &part{off: o.Offset, n: o.Length, count: o.Parts} }

// onePart is the part a partNumber request selects of an object stored in
// one piece (store.OnePart): nil without partNumber.
func onePart(number int, m store.Meta) (*part, error) {
	if number == 0 {
		return nil, nil
	}
	o, err := store.OnePart(number, m)
	if err != nil {
		return nil, err
	}
	return partOf(o), nil
}

// resolve is what plan sends for the part of an object of size bytes: a
// range (206 with Content-Range), even when the part is the whole object,
// as S3 answers; an empty object (or one of unknown size, a chunked origin)
// has no range to name and is sent whole with 200.
func (p *part) resolve(size int64) (rangeResult, int64, int64) {
	if size <= 0 || p.n < 0 {
		return rangeNone, 0, size
	}
	return rangePartial, p.off, p.n
}

// servePart answers a partNumber GET or HEAD from the target with one
// request for the part: a target that has no such part is 416
// InvalidPartNumber, a missing key the miss path.
func (s *Server) servePart(w *respWriter, r *http.Request, rc *reqCtx, st *Settings) {
	read := s.opts.Target.GetPart
	if r.Method == http.MethodHead {
		read = s.opts.Target.HeadPart
	}
	obj, err := read(r.Context(), rc.key, rc.part)
	if store.IsInvalidPart(err) {
		s.markHit(w, rc) // the object is there
		writeError(w, r, rc, err)
		return
	}
	if s.targetMissed(w, r, rc, st, err) {
		return
	}
	s.markHit(w, rc)
	off, n, ok := s.plan(w, r, rc, obj.Meta, partOf(obj))
	if !ok || n == 0 {
		discard(obj)
		return
	}
	if obj.Body == nil {
		s.serveHit(w, r, rc, off, n) // a bucket that answers with the Meta only
		return
	}
	defer obj.Body.Close()
	s.copyBody(w, r, rc, obj.Body, n)
}

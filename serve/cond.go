package serve

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// validators are what conditional requests are evaluated against.
type validators struct {
	etag    string    // quoted, "" when unknown
	modTime time.Time // zero when unknown
}

// condResult is the outcome of evaluating the If-* headers.
type condResult int

const (
	condProceed condResult = iota
	condNotModified
	condFailed
)

// checkConditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in the order of RFC 9110 §13.2.2 (which is also what S3
// does for the combinations it documents). It returns the failing header
// name with condFailed.
func checkConditions(h http.Header, v validators) (condResult, string) {
	if im := h.Get("If-Match"); im != "" {
		if !etagListMatch(im, v.etag, true) {
			return condFailed, "If-Match"
		}
	} else if ius := h.Get("If-Unmodified-Since"); ius != "" && !v.modTime.IsZero() {
		if t, err := http.ParseTime(ius); err == nil && v.modTime.Truncate(time.Second).After(t) {
			return condFailed, "If-Unmodified-Since"
		}
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		if etagListMatch(inm, v.etag, false) {
			return condNotModified, ""
		}
	} else if ims := h.Get("If-Modified-Since"); ims != "" && !v.modTime.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !v.modTime.Truncate(time.Second).After(t) {
			return condNotModified, ""
		}
	}
	return condProceed, ""
}

// etagListMatch reports whether the comma-separated entity-tag list (or "*")
// matches etag; strong comparison refuses weak tags.
func etagListMatch(list, etag string, strong bool) bool {
	list = textproto.TrimString(list)
	if list == "*" {
		return true
	}
	if etag == "" {
		return false
	}
	want, wantWeak := trimWeak(etag)
	if strong && wantWeak {
		return false
	}
	for _, tok := range strings.Split(list, ",") {
		tok = textproto.TrimString(tok)
		if tok == "" {
			continue
		}
		t, weak := trimWeak(tok)
		if strong && weak {
			continue
		}
		if t == want || unquote(t) == unquote(want) {
			return true
		}
	}
	return false
}

func trimWeak(s string) (string, bool) {
	if strings.HasPrefix(s, "W/") {
		return s[2:], true
	}
	return s, false
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// rangeResult is the outcome of evaluating Range (and If-Range).
type rangeResult int

const (
	rangeNone          rangeResult = iota // send the whole object, 200
	rangePartial                          // send [off, off+n), 206
	rangeUnsatisfiable                    // 416 InvalidRange
)

// checkRange evaluates a single byte range against an object of size bytes
// (size < 0: unknown, the range is ignored). Malformed or multiple ranges
// are ignored (the whole object is sent), as S3 does; a range on an empty
// object is unsatisfiable, as in S3.
func checkRange(h http.Header, size int64, v validators) (rangeResult, int64, int64) {
	br, ok := parseRange(h.Get("Range"))
	if !ok || size < 0 {
		return rangeNone, 0, size
	}
	if ir := h.Get("If-Range"); ir != "" && !ifRangeHolds(ir, v) {
		return rangeNone, 0, size
	}
	return br.resolve(size)
}

// byteRange is one byte range: bytes first..last (last < 0: to the end), or
// with first < 0 the last `last` bytes.
type byteRange struct{ first, last int64 }

// parseRange parses a Range header holding one byte range; ok is false for
// none, a malformed one or several (all of which S3 ignores).
func parseRange(spec string) (byteRange, bool) {
	const prefix = "bytes="
	if !strings.HasPrefix(spec, prefix) {
		return byteRange{}, false
	}
	spec = textproto.TrimString(spec[len(prefix):])
	if strings.Contains(spec, ",") {
		return byteRange{}, false
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, false
	}
	first, last = textproto.TrimString(first), textproto.TrimString(last)
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return byteRange{}, false
		}
		return byteRange{-1, n}, true
	}
	off, err := strconv.ParseInt(first, 10, 64)
	if err != nil || off < 0 {
		return byteRange{}, false
	}
	if last == "" {
		return byteRange{off, -1}, true
	}
	e, err := strconv.ParseInt(last, 10, 64)
	if err != nil || e < off {
		return byteRange{}, false
	}
	return byteRange{off, e}, true
}

// resolve returns the part of an object of size bytes that br selects.
func (br byteRange) resolve(size int64) (rangeResult, int64, int64) {
	if br.first < 0 {
		n := br.last
		if n == 0 || size == 0 {
			return rangeUnsatisfiable, 0, 0
		}
		return rangePartial, size - min(n, size), min(n, size)
	}
	if br.first >= size {
		return rangeUnsatisfiable, 0, 0
	}
	end := size - 1
	if br.last >= 0 && br.last < end {
		end = br.last
	}
	return rangePartial, br.first, end - br.first + 1
}

// header is br as a Range header value, as a target is asked for it.
func (br byteRange) header() string {
	switch {
	case br.first < 0:
		return "bytes=-" + strconv.FormatInt(br.last, 10)
	case br.last < 0:
		return "bytes=" + strconv.FormatInt(br.first, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(br.first, 10) + "-" + strconv.FormatInt(br.last, 10)
}

// ifRangeHolds: an entity tag must match strongly; a date must equal the
// object's Last-Modified exactly.
func ifRangeHolds(ir string, v validators) bool {
	ir = textproto.TrimString(ir)
	if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
		return etagListMatch(ir, v.etag, true)
	}
	t, err := http.ParseTime(ir)
	return err == nil && !v.modTime.IsZero() && v.modTime.Truncate(time.Second).Equal(t)
}

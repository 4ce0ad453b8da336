package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// Outcomes: one name each in the X-Ferry-Mirror header, the access log's
// "mirror" field and the metrics' "outcome" label. The header is sent for
// the first five (the target or the origin answered about the object).
const (
	outcomeHit       = "hit"       // served from the target
	outcomeFill      = "fill"      // fetched from the origin, streamed and stored
	outcomeCoalesced = "coalesced" // joined a fill already in flight
	outcomeOrigin    = "origin"    // answered from the origin, nothing stored: HEAD, passed-through redirect
	outcomeNotFound  = "not_found" // the origin answered 404
	outcomeNoRule    = "no_rule"   // missing, and no rule sends it to the origin (or mirror_head: false)
	outcomeRefused   = "refused"   // a request serve does not take (method, key, loop, bucket)
	outcomeError     = "error"     // the target or the fill failed
)

// reqCtx is what one request carries through the handler.
type reqCtx struct {
	id         string
	bucket     string
	key        string
	outcome    string
	size       int64 // object size for Content-Range on 416; -1 unknown
	part       int   // the partNumber asked for, 0 for none
	failedCond string
	err        error
}

func (s *Server) newRequestID() string {
	const hex = "0123456789ABCDEF"
	n := s.idSeq.Add(1)
	var b [24]byte
	copy(b[:8], s.idPrefix)
	for i := 23; i >= 8; i-- {
		b[i] = hex[n&15]
		n >>= 4
	}
	return string(b[:])
}

func (s *Server) serveHTTP(w0 http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := newRespWriter(w0, s.opts.WriteIdleTimeout)
	rc := &reqCtx{id: s.newRequestID(), size: -1, outcome: outcomeError}
	w.Header().Set("X-Amz-Request-Id", rc.id)
	w.Header().Set("Server", "ferry")
	aborted := true
	defer func() {
		if aborted {
			// panic(http.ErrAbortHandler) after headers: log, then let it go on.
			p := recover()
			s.finish(r, w, rc, start, true)
			if p != nil {
				panic(p)
			}
			return
		}
		s.finish(r, w, rc, start, false)
	}()
	s.handle(w, r, rc)
	aborted = false
}

func (s *Server) finish(r *http.Request, w *respWriter, rc *reqCtx, start time.Time, aborted bool) {
	d := time.Since(start)
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	method := r.Method
	if method != http.MethodGet && method != http.MethodHead {
		method = "other"
	}
	s.metrics.observe(method, rc.outcome, status, w.bytes, d)
	if !s.access.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 15)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("key", rc.key),
		slog.Int("status", status),
		slog.Int64("bytes", w.bytes),
		slog.Float64("duration", d.Seconds()),
		slog.String("mirror", rc.outcome),
		slog.String("request_id", rc.id),
		slog.String("remote", r.RemoteAddr),
		slog.String("host", r.Host),
		slog.String("query", r.URL.RawQuery),
		slog.String("user_agent", r.UserAgent()),
	)
	if rg := r.Header.Get("Range"); rg != "" {
		attrs = append(attrs, slog.String("range", rg))
	}
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	if rc.err != nil {
		attrs = append(attrs, slog.String("err", rc.err.Error()))
	}
	s.access.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// handle runs the checks that need no IO, then the hit or miss path.
func (s *Server) handle(w *respWriter, r *http.Request, rc *reqCtx) {
	st := s.settings.Load()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rc.outcome = outcomeRefused
		writeError(w, r, rc, errMethod)
		return
	}
	if !strings.HasPrefix(r.RequestURI, "/") {
		rc.outcome = outcomeRefused
		writeError(w, r, rc, errAbsoluteForm)
		return
	}
	if s.isLoop(r.Header) {
		rc.outcome = outcomeRefused
		writeError(w, r, rc, errLoop)
		return
	}
	bucket, key, err := parseKey(r.URL.Path, st)
	rc.bucket, rc.key = bucket, key
	if err == errNoKey && (bucket != "" || st.Addressing == AddressingDomain) {
		if bucket == "" {
			rc.bucket = domainBucket(r, st)
		}
		s.serveList(w, r, rc)
		return
	}
	if err != nil {
		rc.outcome = outcomeRefused
		writeError(w, r, rc, err)
		return
	}
	if rc.part, err = partNumber(r); err != nil {
		rc.outcome = outcomeRefused
		writeError(w, r, rc, err)
		return
	}
	// A file target's hit is read straight from disk (store owns fileblob's
	// format); other targets, and keys the fast path leaves, take the bucket.
	f, meta, err := s.opts.Target.OpenFile(key)
	switch {
	case err == nil:
		defer f.Close()
		rc.outcome = outcomeHit
		w.Header().Set("X-Ferry-Mirror", outcomeHit)
		p, err := onePart(rc.part, meta)
		if err != nil {
			writeError(w, r, rc, err)
			return
		}
		if off, n, ok := s.plan(w, r, rc, meta, p); ok && n > 0 {
			s.sendFromFile(w, r, rc, f, off, n)
		}
		return
	case store.IsNotFound(err):
		s.serveMiss(w, r, rc, st)
		return
	}
	s.serveTarget(w, r, rc, st)
}

// isLoop reports whether a Via element names this server's token.
func (s *Server) isLoop(h http.Header) bool {
	for _, v := range h.Values("Via") {
		for _, elem := range strings.Split(v, ",") {
			f := strings.Fields(elem)
			if len(f) >= 2 && f[1] == s.opts.Via {
				return true
			}
			if len(f) == 1 && f[0] == s.opts.Via {
				return true
			}
		}
	}
	return false
}

// domainBucket is the bucket name a domain-mode listing (GET /) answers
// with: serve.bucket when set, else the request's host without its port,
// as S3 names the bucket a CNAME points at.
func domainBucket(r *http.Request, st *Settings) string {
	if st.Bucket != "" {
		return st.Bucket
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return host
}

// parseKey maps the (decoded) request path to bucket and key and refuses
// keys that S3 or a safe mirror cannot take.
func parseKey(p string, st *Settings) (bucket, key string, err error) {
	p = strings.TrimPrefix(p, "/")
	if st.Addressing == AddressingPath {
		var ok bool
		bucket, key, ok = strings.Cut(p, "/")
		if bucket == "" {
			return "", "", errNoKey
		}
		if st.Bucket != "" && bucket != st.Bucket {
			return bucket, key, errNoSuchBucket
		}
		if !ok || key == "" {
			return bucket, "", errNoKey
		}
	} else {
		key = p
		if key == "" {
			return "", "", errNoKey
		}
	}
	return bucket, key, store.CheckKey(key)
}

// setCaching sets the headers of an object sent with 200, 206 and 304.
func setCaching(h http.Header, o *store.Meta) {
	if o.ETag != "" {
		h.Set("ETag", o.ETag)
	}
	if !o.LastModified.IsZero() {
		h.Set("Last-Modified", o.LastModified.UTC().Format(http.TimeFormat))
	}
	if o.CacheControl != "" {
		h.Set("Cache-Control", o.CacheControl)
	}
	if o.Expires != "" {
		h.Set("Expires", o.Expires)
	}
}

// setContent sets the content headers and the user metadata (x-amz-meta-*)
// of an object sent with 200 and 206.
func setContent(h http.Header, o *store.Meta) {
	ct := o.ContentType
	if ct == "" {
		ct = store.DefaultContentType
	}
	h.Set("Content-Type", ct)
	if o.ContentEncoding != "" {
		h.Set("Content-Encoding", o.ContentEncoding)
	}
	if o.ContentDisposition != "" {
		h.Set("Content-Disposition", o.ContentDisposition)
	}
	if o.ContentLanguage != "" {
		h.Set("Content-Language", o.ContentLanguage)
	}
	store.MetadataHeader(h, o.Metadata)
}

// plan evaluates conditions and Range (or, for a partNumber request, the
// part p the target or onePart selected) for an object and writes the
// status line and headers. It returns the byte range to send, or ok=false
// when the answer (304, 412, 416) is complete.
func (s *Server) plan(w *respWriter, r *http.Request, rc *reqCtx, o store.Meta, p *part) (off, n int64, ok bool) {
	rc.size = o.Size
	h := w.Header()
	v := validators{etag: o.ETag, modTime: o.LastModified}
	switch res, cond := checkConditions(r.Header, v); res {
	case condFailed:
		rc.failedCond = cond
		writeError(w, r, rc, errPrecondition)
		return 0, 0, false
	case condNotModified:
		setCaching(h, &o)
		h.Set("Accept-Ranges", "bytes")
		w.WriteHeader(http.StatusNotModified)
		return 0, 0, false
	}
	var res rangeResult
	if p != nil {
		res, off, n = p.resolve(o.Size)
		if p.count > 0 {
			h.Set("X-Amz-Mp-Parts-Count", itoa(p.count))
		}
	} else {
		res, off, n = checkRange(r.Header, o.Size, v)
	}
	if res == rangeUnsatisfiable {
		writeError(w, r, rc, errRange)
		return 0, 0, false
	}
	setCaching(h, &o)
	setContent(h, &o)
	setOverrides(h, r)
	h.Set("Accept-Ranges", "bytes")
	status := http.StatusOK
	if res == rangePartial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+itoa64(off)+"-"+itoa64(off+n-1)+"/"+itoa64(o.Size))
	}
	if n >= 0 {
		h.Set("Content-Length", itoa64(n))
	}
	w.WriteHeader(status)
	return off, n, r.Method != http.MethodHead
}

// serveMiss handles a key the target lacks: the mirror matches the rules
// and answers 404 (no rule), a fill (GET) or an origin HEAD.
func (s *Server) serveMiss(w *respWriter, r *http.Request, rc *reqCtx, st *Settings) {
	rc.outcome = outcomeNoRule
	if s.opts.Mirror == nil || st.Rules == nil {
		writeError(w, r, rc, errNoSuchKey)
		return
	}
	// The client's Host goes in the header map so that a rule with pass_all
	// or pass: [Host] can forward it (rules.OriginRequest decides).
	hdr := r.Header.Clone()
	hdr.Set("Host", r.Host)
	req := mirror.Request{Key: rc.key, Rules: st.Rules, Header: hdr, RawQuery: r.URL.RawQuery}
	if r.Method == http.MethodHead {
		meta, err := s.opts.Mirror.Head(r.Context(), req)
		if s.originError(w, r, rc, err) {
			return
		}
		rc.outcome = outcomeOrigin
		w.Header().Set("X-Ferry-Mirror", outcomeOrigin)
		m := fillMeta(*meta)
		p, err := onePart(rc.part, m)
		if err != nil {
			writeError(w, r, rc, err)
			return
		}
		s.plan(w, r, rc, m, p)
		return
	}
	stream, err := s.opts.Mirror.Get(r.Context(), req)
	if s.originError(w, r, rc, err) {
		return
	}
	defer stream.Close()
	rc.outcome = outcomeFill
	switch {
	case stream.Proxied():
		rc.outcome = outcomeOrigin // store: false: streamed, not stored
	case stream.Coalesced():
		rc.outcome = outcomeCoalesced
	}
	w.Header().Set("X-Ferry-Mirror", rc.outcome)
	m := fillMeta(stream.Meta())
	p, err := onePart(rc.part, m)
	if err != nil {
		writeError(w, r, rc, err) // the fill goes on and stores
		return
	}
	off, n, ok := s.plan(w, r, rc, m, p)
	if !ok || n == 0 {
		return
	}
	rd := stream.NewReader(off, n)
	defer rd.Close()
	if err := s.stream(w, rd, n); err != nil {
		rc.err = err
		if !errors.Is(err, errClientGone) {
			panic(http.ErrAbortHandler)
		}
	}
}

var errClientGone = errors.New("client went away")

// dirMarkerRefused reports whether err is a rule refusing a directory
// marker ("a/"), which an HTTP origin has no object for: such a key the
// target lacks is NoSuchKey, as the target itself answers (S3 clients such
// as rclone look for markers with HEAD and take a 404 as "none").
func dirMarkerRefused(key string, err error) bool {
	return strings.HasSuffix(key, "/") && errors.Is(err, rules.ErrKeyRefused)
}

// stream copies a fill to the client as bytes arrive, flushing after each
// read so clients see the first bytes before the fill completes. A read
// error (failed fill) is returned as is; a write error as errClientGone.
func (s *Server) stream(w *respWriter, rd io.Reader, n int64) error {
	buf := make([]byte, 64<<10)
	var sent int64
	for {
		k, err := rd.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return errors.Join(errClientGone, werr)
			}
			sent += int64(k)
			w.Flush()
		}
		if err == io.EOF {
			if n >= 0 && sent != n {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// originError answers a mirror error: 404, a passed-through redirect or
// pass_status answer, or the classified error. It reports whether it answered.
func (s *Server) originError(w *respWriter, r *http.Request, rc *reqCtx, err error) bool {
	if err == nil {
		return false
	}
	var re *mirror.RedirectError
	var pe *mirror.PassError
	switch {
	case errors.Is(err, mirror.ErrNoRule), dirMarkerRefused(rc.key, err):
		writeError(w, r, rc, errNoSuchKey)
	case errors.As(err, &pe):
		s.writePassed(w, r, rc, pe)
	case errors.As(err, &re):
		rc.outcome = outcomeOrigin
		w.Header().Set("X-Ferry-Mirror", outcomeOrigin)
		if re.Location != "" {
			w.Header().Set("Location", re.Location)
		}
		w.WriteHeader(re.Status)
	case errors.Is(err, mirror.ErrNotFound):
		rc.outcome = outcomeNotFound
		w.Header().Set("X-Ferry-Mirror", outcomeNotFound)
		writeError(w, r, rc, err)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		rc.outcome = outcomeError
		rc.err = err
	default:
		rc.outcome = outcomeError
		writeError(w, r, rc, err)
	}
	return true
}

func itoa64(i int64) string { return itoa(int(i)) }

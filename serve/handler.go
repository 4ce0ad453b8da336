package serve

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferry-migrate/ferry/mirror"
	"gocloud.dev/blob"
)

// MaxKeyBytes is the longest key accepted, as in S3.
const MaxKeyBytes = 1024

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
	if err == errNoKey && bucket != "" {
		s.serveList(w, r, rc)
		return
	}
	if err != nil {
		rc.outcome = outcomeRefused
		writeError(w, r, rc, err)
		return
	}
	if s.opts.FileRoot != "" && plainKey(key) {
		f, o, err := s.openFileHit(key)
		switch {
		case err == nil:
			defer f.Close()
			rc.outcome = outcomeHit
			w.Header().Set("X-Ferry-Mirror", outcomeHit)
			if off, n, ok := s.plan(w, r, rc, o); ok && n > 0 {
				s.sendFromFile(w, r, rc, f, off, n)
			}
			return
		case errors.Is(err, fs.ErrNotExist):
			s.serveMiss(w, r, rc, st)
			return
		}
	}
	attrs, err := s.opts.Target.Attributes(r.Context(), key)
	switch {
	case err == nil:
		rc.outcome = outcomeHit
		w.Header().Set("X-Ferry-Mirror", outcomeHit)
		s.serveHit(w, r, rc, attrs)
	case isNotFound(err):
		s.serveMiss(w, r, rc, st)
	default:
		rc.outcome = outcomeError
		writeError(w, r, rc, err)
	}
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
	return bucket, key, checkKey(key)
}

// checkKey refuses over-long keys, invalid UTF-8, control characters and
// "." or ".." segments.
func checkKey(key string) error {
	if len(key) > MaxKeyBytes {
		return errKeyTooLong
	}
	if !utf8.ValidString(key) {
		return errKeyUTF8
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c == 0x7f {
			return errKeyControl
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return errKeyDots
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var ae *apiError
	return !errors.As(err, &ae) && classify(err).Code == "NoSuchKey"
}

// objectHeaders are the stored headers sent with every answer about an object.
type objectHeaders struct {
	size                                                   int64
	etag                                                   string
	modTime                                                time.Time
	contentType, encoding, disposition, language, cacheCtl string
	expires                                                string
}

func headersFromAttrs(a *blob.Attributes) objectHeaders {
	h := objectHeaders{
		size:        a.Size,
		etag:        a.ETag,
		modTime:     a.ModTime,
		contentType: a.ContentType,
		encoding:    a.ContentEncoding,
		disposition: a.ContentDisposition,
		language:    a.ContentLanguage,
		cacheCtl:    a.CacheControl,
		expires:     a.Metadata["expires"],
	}
	if h.etag == "" && len(a.MD5) > 0 {
		h.etag = `"` + hexString(a.MD5) + `"`
	}
	return h
}

func headersFromMeta(m *mirror.Meta) objectHeaders {
	return objectHeaders{
		size:        m.Size,
		etag:        m.ETag,
		modTime:     m.LastModified,
		contentType: m.ContentType,
		encoding:    m.ContentEncoding,
		disposition: m.ContentDisposition,
		language:    m.ContentLanguage,
		cacheCtl:    m.CacheControl,
		expires:     m.Expires,
	}
}

func hexString(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = hex[c>>4], hex[c&15]
	}
	return string(out)
}

func (o objectHeaders) validators() validators { return validators{etag: o.etag, modTime: o.modTime} }

// setCaching sets the headers sent with 200, 206 and 304.
func (o objectHeaders) setCaching(h http.Header) {
	if o.etag != "" {
		h.Set("ETag", o.etag)
	}
	if !o.modTime.IsZero() {
		h.Set("Last-Modified", o.modTime.UTC().Format(http.TimeFormat))
	}
	if o.cacheCtl != "" {
		h.Set("Cache-Control", o.cacheCtl)
	}
	if o.expires != "" {
		h.Set("Expires", o.expires)
	}
}

func (o objectHeaders) setContent(h http.Header) {
	ct := o.contentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if o.encoding != "" {
		h.Set("Content-Encoding", o.encoding)
	}
	if o.disposition != "" {
		h.Set("Content-Disposition", o.disposition)
	}
	if o.language != "" {
		h.Set("Content-Language", o.language)
	}
}

// plan evaluates conditions and Range for an object and writes the status
// line and headers. It returns the byte range to send, or ok=false when the
// answer (304, 412, 416) is complete.
func (s *Server) plan(w *respWriter, r *http.Request, rc *reqCtx, o objectHeaders) (off, n int64, ok bool) {
	rc.size = o.size
	h := w.Header()
	switch res, cond := checkConditions(r.Header, o.validators()); res {
	case condFailed:
		rc.failedCond = cond
		writeError(w, r, rc, errPrecondition)
		return 0, 0, false
	case condNotModified:
		o.setCaching(h)
		w.WriteHeader(http.StatusNotModified)
		return 0, 0, false
	}
	res, off, n := checkRange(r.Header, o.size, o.validators())
	if res == rangeUnsatisfiable {
		writeError(w, r, rc, errRange)
		return 0, 0, false
	}
	o.setCaching(h)
	o.setContent(h)
	h.Set("Accept-Ranges", "bytes")
	status := http.StatusOK
	if res == rangePartial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+itoa64(off)+"-"+itoa64(off+n-1)+"/"+itoa64(o.size))
	}
	if n >= 0 {
		h.Set("Content-Length", itoa64(n))
	}
	w.WriteHeader(status)
	return off, n, r.Method != http.MethodHead
}

// serveHit sends an object that is in the target, read through the bucket.
func (s *Server) serveHit(w *respWriter, r *http.Request, rc *reqCtx, attrs *blob.Attributes) {
	off, n, ok := s.plan(w, r, rc, headersFromAttrs(attrs))
	if !ok || n == 0 {
		return
	}
	rd, err := s.opts.Target.NewRangeReader(r.Context(), rc.key, off, n, nil)
	if err != nil {
		// Headers are out: the client must see a broken transfer.
		rc.err = err
		panic(http.ErrAbortHandler)
	}
	defer rd.Close()
	written, err := io.Copy(w, rd)
	if err != nil || written != n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		rc.err = err
		if r.Context().Err() == nil {
			panic(http.ErrAbortHandler)
		}
	}
}

// serveMiss handles a key the target lacks: 404 without a rule, else a fill
// (GET) or an origin HEAD.
func (s *Server) serveMiss(w *respWriter, r *http.Request, rc *reqCtx, st *Settings) {
	rc.outcome = outcomeNoRule
	if st.Rules == nil {
		writeError(w, r, rc, errNoSuchKey)
		return
	}
	idx, rule := st.Rules.Match(rc.key)
	if rule == nil {
		writeError(w, r, rc, errNoSuchKey)
		return
	}
	if r.Method == http.MethodHead && !rule.MirrorHead {
		writeError(w, r, rc, errNoSuchKey)
		return
	}
	if s.opts.Mirror == nil {
		rc.outcome = outcomeError
		writeError(w, r, rc, &mirror.FailedError{Reason: "no_mirror", Err: errors.New("serve has no mirror engine")})
		return
	}
	// The client's Host goes in the header map so that a rule with pass_all
	// or pass: [Host] can forward it (rules.OriginRequest decides).
	hdr := r.Header.Clone()
	hdr.Set("Host", r.Host)
	req := mirror.Request{Rule: rule, RuleIndex: idx, Key: rc.key, Header: hdr, RawQuery: r.URL.RawQuery}
	if r.Method == http.MethodHead {
		meta, err := s.opts.Mirror.Head(r.Context(), req)
		if s.originError(w, r, rc, err) {
			return
		}
		rc.outcome = outcomeOrigin
		w.Header().Set("X-Ferry-Mirror", outcomeOrigin)
		s.plan(w, r, rc, headersFromMeta(meta))
		return
	}
	stream, err := s.opts.Mirror.Get(r.Context(), req)
	if s.originError(w, r, rc, err) {
		return
	}
	defer stream.Close()
	rc.outcome = outcomeFill
	if stream.Coalesced() {
		rc.outcome = outcomeCoalesced
	}
	w.Header().Set("X-Ferry-Mirror", rc.outcome)
	meta := stream.Meta()
	off, n, ok := s.plan(w, r, rc, headersFromMeta(&meta))
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

// originError answers a mirror error: 404, a passed-through redirect, or
// the classified error. It reports whether it answered.
func (s *Server) originError(w *respWriter, r *http.Request, rc *reqCtx, err error) bool {
	if err == nil {
		return false
	}
	var re *mirror.RedirectError
	switch {
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

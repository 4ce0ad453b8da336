package serve

import (
	"net/http"

	"github.com/ferry-migrate/ferry/mirror"
)

// writePassed answers with an origin answer that a rule's pass_status
// passes on: the origin's status, content and caching headers, and body (no
// body for a HEAD). Nothing was stored.
func (s *Server) writePassed(w *respWriter, r *http.Request, rc *reqCtx, pe *mirror.PassError) {
	rc.outcome = outcomeOrigin
	h := w.Header()
	h.Set("X-Ferry-Mirror", outcomeOrigin)
	setContent(h, &pe.Meta)
	if pe.Meta.CacheControl != "" {
		h.Set("Cache-Control", pe.Meta.CacheControl)
	}
	if pe.Meta.Expires != "" {
		h.Set("Expires", pe.Meta.Expires)
	}
	if pe.Meta.Size >= 0 {
		h.Set("Content-Length", itoa64(pe.Meta.Size))
	}
	w.WriteHeader(pe.Status)
	if r.Method != http.MethodHead && len(pe.Body) > 0 {
		_, _ = w.Write(pe.Body)
	}
}

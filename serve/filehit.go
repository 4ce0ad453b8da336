package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// The file-target fast path reads the object and its fileblob sidecar
// directly (open, fstat, sidecar) instead of going through blob.Attributes
// and a blob reader (two stats, two sidecar reads, an open and tracing), and
// sends the body with sendfile. It only takes keys whose path fileblob does
// not escape, and produces the same headers as the generic path.

// fileblobSidecar mirrors fileblob's ".attrs" JSON sidecar format.
type fileblobSidecar struct {
	CacheControl       string            `json:"user.cache_control"`
	ContentDisposition string            `json:"user.content_disposition"`
	ContentEncoding    string            `json:"user.content_encoding"`
	ContentLanguage    string            `json:"user.content_language"`
	ContentType        string            `json:"user.content_type"`
	Metadata           map[string]string `json:"user.metadata"`
	MD5                []byte            `json:"md5"`
}

// plainKey reports whether fileblob maps key to root/key unescaped.
func plainKey(key string) bool {
	return filepath.Separator == '/' && !strings.Contains(key, "//") && !strings.Contains(key, "__0x") &&
		!strings.HasSuffix(key, "/") && !strings.HasSuffix(key, ".attrs")
}

// errFallback: the fast path cannot decide; use the bucket.
var errFallback = errors.New("fall back to the bucket")

// openFileHit opens key under FileRoot. It returns the open file and its
// headers, fs.ErrNotExist for a miss, or errFallback.
func (s *Server) openFileHit(key string) (*os.File, objectHeaders, error) {
	path := filepath.Join(s.opts.FileRoot, key)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, objectHeaders{}, fs.ErrNotExist
		}
		return nil, objectHeaders{}, errFallback
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, objectHeaders{}, errFallback
	}
	if h, ok := s.sidecars.get(path, st); ok {
		return f, h, nil
	}
	var sc fileblobSidecar
	if data, err := os.ReadFile(path + ".attrs"); err == nil {
		if json.Unmarshal(data, &sc) != nil {
			f.Close()
			return nil, objectHeaders{}, errFallback
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		f.Close()
		return nil, objectHeaders{}, errFallback
	} else {
		sc.ContentType = "application/octet-stream" // as fileblob
	}
	h := objectHeaders{
		size: st.Size(),
		// fileblob's ETag, so both paths agree.
		etag:        fmt.Sprintf("\"%x-%x\"", st.ModTime().UnixNano(), st.Size()),
		modTime:     st.ModTime(),
		contentType: sc.ContentType,
		encoding:    sc.ContentEncoding,
		disposition: sc.ContentDisposition,
		language:    sc.ContentLanguage,
		cacheCtl:    sc.CacheControl,
		expires:     sc.Metadata["expires"],
	}
	s.sidecars.put(path, h)
	return f, h, nil
}

// sidecarCache keeps the headers decoded from fileblob sidecars, so a hit
// costs an open and an fstat instead of also opening, reading and decoding
// the sidecar. An entry is used only while the object file has the same
// modification time and size: fileblob writes the new sidecar before it
// renames a new object into place, so a replaced object is always a miss.
type sidecarCache struct {
	mu sync.RWMutex
	m  map[string]objectHeaders
}

// maxSidecars bounds the cache; when full it starts over (cheap, rare).
const maxSidecars = 100_000

func (c *sidecarCache) get(path string, st fs.FileInfo) (objectHeaders, bool) {
	c.mu.RLock()
	h, ok := c.m[path]
	c.mu.RUnlock()
	if !ok || h.size != st.Size() || !h.modTime.Equal(st.ModTime()) {
		return objectHeaders{}, false
	}
	return h, true
}

func (c *sidecarCache) put(path string, h objectHeaders) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxSidecars {
		c.m = make(map[string]objectHeaders)
	}
	c.m[path] = h
	c.mu.Unlock()
}

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

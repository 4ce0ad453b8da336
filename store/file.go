package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A local directory bucket is fileblob's on-disk format: the object at
// dir/key and, when something wrote it through fileblob, its attributes in
// a JSON sidecar dir/key.attrs. Reading both straight from disk (an open,
// an fstat and the sidecar) costs a fraction of a blob reader plus
// Attributes (two stats, two sidecar reads, an open and tracing), so serve's
// file hits and scan's directory origins read that way. Only keys fileblob
// does not escape take this path; they get the same Meta as Attributes.

// sidecarExt is the extension of fileblob's attribute files.
const sidecarExt = ".attrs"

// sidecar mirrors fileblob's ".attrs" JSON format.
type sidecar struct {
	CacheControl       string            `json:"user.cache_control"`
	ContentDisposition string            `json:"user.content_disposition"`
	ContentEncoding    string            `json:"user.content_encoding"`
	ContentLanguage    string            `json:"user.content_language"`
	ContentType        string            `json:"user.content_type"`
	Metadata           map[string]string `json:"user.metadata"`
	MD5                []byte            `json:"md5"`
}

// ErrNoFastPath is returned by OpenFile for a key that cannot be read
// straight from disk (not a local bucket, a key fileblob escapes, an
// unreadable sidecar); read it through the bucket instead.
var ErrNoFastPath = errors.New("store: no file fast path for this key")

// OpenFile opens key of a local directory target straight from disk. It
// returns the open file (the caller closes it) and the object's Meta, as
// Attributes would give them; an error wrapping fs.ErrNotExist (IsNotFound)
// when there is no such object; or ErrNoFastPath. Decoded sidecars are
// cached while the object keeps its modification time and size (fileblob
// writes a new sidecar before it renames a new object into place, so a
// replaced object is never served with old metadata).
func (b *Bucket) OpenFile(key string) (*os.File, Meta, error) {
	f, m, _, err := b.openFile(key, true)
	return f, m, err
}

// openFile is OpenFile; untyped reports a file nothing recorded a type for
// (see untyped), and cache whether to use the sidecar cache.
func (b *Bucket) openFile(key string, cache bool) (*os.File, Meta, bool, error) {
	if b.dir == "" || !plainFileKey(key) {
		return nil, Meta{}, false, ErrNoFastPath
	}
	path := filepath.Join(b.dir, key)
	if !strings.HasPrefix(path, b.dir+string(filepath.Separator)) {
		return nil, Meta{}, false, ErrNoFastPath // a ".." segment: the bucket decides
	}
	f, err := openRead(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Meta{}, false, fmt.Errorf("%q: %w", key, fs.ErrNotExist)
		}
		return nil, Meta{}, false, ErrNoFastPath
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, Meta{}, false, ErrNoFastPath
	}
	if cache {
		if m, ok := b.sidecars.get(path, st); ok {
			return f, m, untyped(m.MD5, m.ContentType), nil
		}
	}
	if b.bare.holds(path, st) {
		m := metaOf(st, &sidecar{ContentType: DefaultContentType})
		return f, m, untyped(m.MD5, m.ContentType), nil
	}
	m, err := readSidecar(path, st)
	if err != nil {
		f.Close()
		return nil, Meta{}, false, ErrNoFastPath
	}
	if cache {
		b.sidecars.put(path, m)
	}
	return f, m, untyped(m.MD5, m.ContentType), nil
}

// readSidecar returns the Meta of the object at path (whose FileInfo is
// st) as fileblob's Attributes would: the sidecar's fields, or
// DefaultContentType when there is none.
func readSidecar(path string, st fs.FileInfo) (Meta, error) {
	sc := sidecar{ContentType: DefaultContentType}
	if data, err := os.ReadFile(path + sidecarExt); err == nil {
		sc = sidecar{}
		if err := json.Unmarshal(data, &sc); err != nil {
			return Meta{}, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Meta{}, err
	}
	return metaOf(st, &sc), nil
}

// metaOf is the Meta of an object file with its sidecar's fields.
func metaOf(st fs.FileInfo, sc *sidecar) Meta {
	return Meta{
		Size:               st.Size(),
		ContentType:        sc.ContentType,
		ContentEncoding:    sc.ContentEncoding,
		ContentDisposition: sc.ContentDisposition,
		ContentLanguage:    sc.ContentLanguage,
		CacheControl:       sc.CacheControl,
		Expires:            sc.Metadata[MetaExpires],
		ETag:               fmt.Sprintf("\"%x-%x\"", st.ModTime().UnixNano(), st.Size()), // fileblob's
		LastModified:       st.ModTime(),
		MD5:                sc.MD5,
		Metadata:           sc.Metadata,
	}
}

// sidecarCache keeps the Meta decoded from fileblob sidecars, so a hit
// costs an open and an fstat instead of also opening, reading and decoding
// the sidecar. An entry is used only while the object file has the same
// modification time and size.
type sidecarCache struct {
	mu sync.RWMutex
	m  map[string]Meta
}

// maxSidecars bounds the cache; when full it starts over (cheap, rare).
const maxSidecars = 100_000

func (c *sidecarCache) get(path string, st fs.FileInfo) (Meta, bool) {
	c.mu.RLock()
	m, ok := c.m[path]
	c.mu.RUnlock()
	if !ok || m.Size != st.Size() || !m.LastModified.Equal(st.ModTime()) {
		return Meta{}, false
	}
	return m, true
}

func (c *sidecarCache) put(path string, m Meta) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxSidecars {
		c.m = make(map[string]Meta)
	}
	c.m[path] = m
	c.mu.Unlock()
}

// bareDirs are the directories a DirLister of the bucket read with no
// sidecar in them, each with the time just before it was read. fileblob
// writes an object's sidecar before it renames the object into place, and
// the rename changes the object's status time (ctime), so a file of such a
// directory whose status last changed before the directory was read has no
// sidecar, and a read of it (scan's copy of a listed file) need not open
// one to find out. A file changed since (or less than a second before: file
// times lag the clock) is read as any other.
type bareDirs struct {
	m sync.Map // directory path: time.Time
	n atomic.Int64
}

// maxBareDirs bounds the directories remembered; when full it starts over.
const maxBareDirs = 100_000

func (d *bareDirs) note(dir string, readAt time.Time) {
	if d.n.Add(1) > maxBareDirs {
		d.m.Clear()
		d.n.Store(1)
	}
	d.m.Store(dir, readAt.Add(-time.Second))
}

func (d *bareDirs) forget(dir string) { d.m.Delete(dir) }

// holds reports whether the file at path (whose FileInfo is st) has no
// sidecar, as its directory's listing showed.
func (d *bareDirs) holds(path string, st fs.FileInfo) bool {
	i := strings.LastIndexByte(path, filepath.Separator)
	if i < 0 {
		return false
	}
	v, ok := d.m.Load(path[:i])
	if !ok {
		return false
	}
	c, ok := changeTime(st)
	return ok && c.Before(v.(time.Time))
}

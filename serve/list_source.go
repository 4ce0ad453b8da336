package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// srcPos is where a source stands: the page token of its current page (nil:
// the first page) and the last key it consumed on that page (in the
// source's own key space; "": none). A source that is done keeps its last
// page, so that the next answer reloads it: the target's last page is what
// drops the origin keys it holds (see has).
type srcPos struct {
	Page []byte `json:"p,omitempty"`
	Last string `json:"l,omitempty"`
}

// source is one listing merged into an answer, one page in memory at a time.
type source struct {
	id   string
	b    *store.Bucket
	opts blob.ListOptions // in the source's key space
	// from, to map a source key to a client key: to + strings.TrimPrefix(key, from).
	from, to string
	keep     func(key string) bool // nil: every key (the target)
	dup      func(key string) bool // a key another source lists: skip it
	collapse string                // not "": the source lists only this common prefix, if it has any key

	pos    srcPos
	done   bool
	loaded bool
	page   []*blob.ListObject
	next   []byte
	i      int
	set    map[string]bool // keys of the current page, for has
	head   *blob.ListObject
}

// peek returns the source's next entry after the key after, in client
// keys, without consuming it; nil when the source is done.
func (s *source) peek(ctx context.Context, after string) (*blob.ListObject, error) {
	if s.head != nil {
		return s.head, nil
	}
	for !s.done {
		if !s.loaded {
			if err := s.load(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if s.i == len(s.page) {
			if len(s.next) == 0 {
				s.done = true
				break
			}
			s.pos, s.loaded = srcPos{Page: s.next}, false
			continue
		}
		o := s.page[s.i]
		if e := s.entry(o); e != nil && (after == "" || e.Key > after) {
			s.head = e
			return e, nil
		}
		s.consume()
	}
	return nil, nil
}

// entry maps a listed object to the entry clients see, or nil when it is
// not listed (a key the rules would not fill from this source, one another
// source lists).
func (s *source) entry(o *blob.ListObject) *blob.ListObject {
	if s.keep == nil {
		return o
	}
	e := &blob.ListObject{Key: s.collapse, IsDir: true}
	if s.collapse == "" {
		if !strings.HasPrefix(o.Key, s.from) {
			return nil
		}
		c := *o
		c.Key = s.to + o.Key[len(s.from):]
		if e = &c; !o.IsDir && !s.keep(e.Key) {
			return nil
		}
	}
	if s.dup != nil && s.dup(e.Key) {
		return nil
	}
	return e
}

// advance consumes the entry peek returned.
func (s *source) advance() {
	s.head = nil
	s.consume()
}

func (s *source) consume() {
	s.pos.Last = s.page[s.i].Key
	s.i++
	if s.collapse != "" { // one entry stands for the whole source
		s.i, s.next = len(s.page), nil
	}
}

// load reads the page at s.pos and skips what an earlier answer consumed:
// through the entry equal to pos.Last (listings need not be in byte order),
// or, when that key is gone, every key up to it.
func (s *source) load(ctx context.Context) error {
	token, size := s.pos.Page, maxListPage
	if token == nil {
		token = blob.FirstPageToken
	}
	if s.collapse != "" {
		size = 1
	}
	page, next, err := s.listPage(ctx, token, size)
	switch {
	case err == nil:
	case store.IsInvalid(err):
		return &apiError{errBadToken.Status, errBadToken.Code, errBadToken.Message, err}
	case s.keep != nil:
		return &apiError{http.StatusFailedDependency, "MirrorFailed", "Listing the origin of a back-to-origin rule failed.", err}
	case store.IsNotFound(err):
		return &apiError{errNoSuchBucket.Status, errNoSuchBucket.Code, errNoSuchBucket.Message, err}
	default:
		return err
	}
	s.page, s.next, s.loaded, s.i, s.set = page, next, true, 0, nil
	if last := s.pos.Last; last != "" {
		s.i = len(page)
		for j, o := range page {
			if o.Key == last {
				s.i = j + 1
				break
			}
		}
		if s.i == len(page) {
			for s.i = 0; s.i < len(page) && page[s.i].Key <= last; s.i++ {
			}
		}
	}
	if s.collapse != "" && s.i > 0 {
		s.i, s.next = len(page), nil
	}
	return nil
}

// listPage lists the page at token: a local directory with a DirLister
// (fileblob's own pages can leave keys out and repeat others where its walk
// order and key order disagree at a page's end), whose token is the last
// file name of the page before; other buckets with ListPage.
func (s *source) listPage(ctx context.Context, token []byte, size int) ([]*blob.ListObject, []byte, error) {
	if s.b.Dir() == "" || s.opts.Delimiter != "" && s.opts.Delimiter != "/" {
		return s.b.ListPage(ctx, token, size, &s.opts)
	}
	after := ""
	if !bytes.Equal(token, blob.FirstPageToken) {
		after = string(token)
	}
	l := s.b.NewDirLister(s.opts.Prefix, "")
	l.Level, l.StartAfter = s.opts.Delimiter != "", after
	objs, more, err := l.Next(ctx, size)
	if err != nil {
		return nil, nil, err
	}
	page := make([]*blob.ListObject, len(objs))
	for i, o := range objs {
		page[i] = &blob.ListObject{Key: o.Key, Size: o.Size, ModTime: o.ModTime, MD5: o.MD5, IsDir: o.IsDir}
	}
	var next []byte
	if more && len(objs) > 0 {
		next = []byte(objs[len(objs)-1].Name)
	}
	return page, next, nil
}

// has reports whether key is on the source's current page (the target's:
// client keys are its keys).
func (s *source) has(key string) bool {
	if s.set == nil {
		s.set = make(map[string]bool, len(s.page))
		for _, o := range s.page {
			s.set[o.Key] = true
		}
	}
	return s.set[key]
}

// tokenPrefix starts every continuation token (and V1 NextMarker) serve
// hands out, so that a V1 marker that is a key is told apart.
const tokenPrefix = "ferry1:"

func encodeListToken(pos map[string]srcPos) (string, error) {
	b, err := json.Marshal(pos)
	if err != nil {
		return "", err
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeListToken reads a token from encodeListToken ("": the start).
func decodeListToken(t string) (map[string]srcPos, error) {
	if t == "" {
		return nil, nil
	}
	if !strings.HasPrefix(t, tokenPrefix) {
		return nil, errors.New("not a serve token")
	}
	b, err := base64.RawURLEncoding.DecodeString(t[len(tokenPrefix):])
	if err != nil {
		return nil, err
	}
	var pos map[string]srcPos
	if err := json.Unmarshal(b, &pos); err != nil {
		return nil, err
	}
	return pos, nil
}

package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// A DirLister lists a local directory bucket in one walk. It lists the
// keys fileblob's ListPage (without a delimiter) lists, with the same
// sizes, modification times and MD5s: names unescaped, ".attrs" sidecars
// left out, every entry that is not a directory listed. It lists them in
// byte order of their names (the file paths, "/"-separated): each
// directory's entries are sorted with a "/" after a directory's name, so
// the file "a-b" comes before the directory "a/" and everything under it,
// as S3 lists them; fileblob's walk lists "a/b" first.
//
// fileblob walks the tree from its root again for every page and opens the
// sidecar of every file it passes, before it skips what earlier pages
// listed: on a plain directory that open fails for every file, and costs
// more than the rest of the listing. A DirLister reads each directory
// once, knows from it which sidecars exist, and opens only those. Where
// fileblob loses objects without a word, it says so: a directory it
// cannot read is reported to Skipped (fileblob leaves it out silently). A
// file that vanishes between the directory read and its lstat is left out
// (fileblob fails the page).
type DirLister struct {
	dir    string // the bucket's directory
	prefix string
	after  string // names up to it may be left out (see NewDirLister)
	stack  []dirFrame
	buf    []ListObject
	bare   *bareDirs // the bucket's, told of each directory read without sidecars
	// Level, when set, lists one level, as a listing with the delimiter
	// "/" does: each directory under the prefix (or, as fileblob has it,
	// the part of a key up to its first "/" after the prefix) comes once,
	// in its place, as an IsDir entry, and is not walked. An empty
	// directory is an entry too (fileblob leaves it out).
	Level bool
	last  string // the last IsDir entry's key
	// StartAfter, when set, leaves out every entry whose Name is not after
	// it: a listing continued after the last Name of a page.
	StartAfter string
	// Skipped, when set, is told of each directory that could not be read
	// (its path and the error); the listing goes on without it.
	Skipped func(path string, err error)
}

// dirFrame is a directory being walked.
type dirFrame struct {
	rel     string // its path under the bucket's directory, "/"-separated, with a trailing "/" ("" for the walk's root)
	path    string // on disk
	entries []os.DirEntry
	i       int
	attrs   map[string]bool // its entry names that end in sidecarExt; nil when none do
	read    bool
}

// NewDirLister lists the keys of a local directory bucket under prefix; nil
// when the bucket is not a local directory. Names (file paths under the
// directory, "/"-separated) up to after may be left out: a range listing
// passes the name its range starts after, and whole directories before it
// are then not walked.
func (b *Bucket) NewDirLister(prefix, after string) *DirLister {
	if b.dir == "" {
		return nil
	}
	return &DirLister{dir: b.dir, prefix: prefix, after: after, bare: &b.bare}
}

// Next returns up to n more objects (valid until the next call) and
// whether more may follow. After an error the same objects are read again
// by the next call.
func (l *DirLister) Next(ctx context.Context, n int) ([]ListObject, bool, error) {
	if l.stack == nil {
		root, err := l.root()
		if err != nil {
			return nil, false, err
		}
		l.stack = []dirFrame{root}
	}
	l.buf = l.buf[:0]
	for len(l.buf) < n {
		if len(l.stack) == 0 {
			return l.buf, false, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		f := &l.stack[len(l.stack)-1]
		if !f.read {
			l.readDir(f)
		}
		if f.i == len(f.entries) {
			l.stack = l.stack[:len(l.stack)-1]
			continue
		}
		e := f.entries[f.i]
		name := f.rel + e.Name()
		if e.IsDir() {
			f.i++
			switch {
			case !l.walks(name + "/"):
			case !l.readable(name, unescapeName(name), filepath.Join(f.path, e.Name())):
			case l.Level && name+"/" <= l.StartAfter:
			case l.Level:
				l.addDir(unescapeName(name)+"/", name+"/")
			default:
				l.stack = append(l.stack, dirFrame{rel: name + "/", path: filepath.Join(f.path, e.Name())})
			}
			continue
		}
		if strings.HasSuffix(name, sidecarExt) || ownName(name) && name <= l.after || name <= l.StartAfter {
			f.i++
			continue
		}
		key := unescapeName(name)
		if !strings.HasPrefix(key, l.prefix) {
			f.i++
			continue
		}
		if !l.readable(name, key, filepath.Join(f.path, e.Name())) {
			f.i++
			continue
		}
		if l.Level && strings.Contains(key[len(l.prefix):], "/") {
			f.i++ // an escaped "/": fileblob makes a directory of it
			l.addDir(key, name)
			continue
		}
		st, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			f.i++ // gone since the directory was read
			continue
		}
		if err != nil {
			if len(l.buf) > 0 {
				return l.buf, true, nil // the error again on the next call
			}
			return nil, false, err
		}
		o := ListObject{Key: key, Name: name, Size: st.Size(), ModTime: st.ModTime()}
		if f.attrs[e.Name()+sidecarExt] {
			o.MD5 = readSidecarMD5(filepath.Join(f.path, e.Name()) + sidecarExt)
		}
		l.buf = append(l.buf, o)
		f.i++
	}
	return l.buf, true, nil
}

// addDir adds the directory of key, the part up to its first "/" after the
// prefix, unless it was the last one added.
func (l *DirLister) addDir(key, name string) {
	if i := strings.IndexByte(key[len(l.prefix):], '/'); i >= 0 {
		key = key[:len(l.prefix)+i+1]
	}
	if key != l.last {
		l.last = key
		l.buf = append(l.buf, ListObject{Key: key, Name: name, IsDir: true})
	}
}

// readable reports whether the file or directory name (its path from the
// bucket's root, without a trailing "/"; key is what it unescapes to) is
// one fileblob reads by key: the
// name fileblob stores its unescaped key under. A name with text that reads
// as an escape, put there by something else than fileblob (a file
// "k1__0x30__" lists as the key "k10", and the key "k10" is the file
// "k10"), is read by no key: it is reported to Skipped (path, an
// *UnreadableNameError) and left out, not listed under a key whose copy
// would fail as gone from the origin.
func (l *DirLister) readable(name, key, path string) bool {
	if key == name || FileName(key) == name {
		return true
	}
	if l.Skipped != nil {
		l.Skipped(path, &UnreadableNameError{Name: name, Key: key})
	}
	return false
}

// UnreadableNameError is a file or directory of a directory bucket whose
// name holds an escape ("__0x30__") that fileblob did not write: it would
// list as Key, and Key opens another name. Renaming it (or copying it with
// its own key through another origin) migrates it.
type UnreadableNameError struct {
	Name string // its path from the bucket's root, "/"-separated
	Key  string
}

func (e *UnreadableNameError) Error() string {
	return fmt.Sprintf("the name reads as the escaped key %q, which names another file (fileblob escapes text like \"__0x30__\" in the keys it stores): no key reads it; rename it", e.Key)
}

// unescapeName is the key fileblob stores under a file name.
func unescapeName(name string) string {
	if strings.Contains(name, "__0x") {
		return hexUnescape(name)
	}
	return name
}

// root is the frame the walk starts at: the directory of the prefix up to
// its last "/", as fileblob's walk starts there.
func (l *DirLister) root() (dirFrame, error) {
	path := l.dir
	if i := strings.LastIndex(l.prefix, "/"); i >= 0 {
		path = filepath.Join(l.dir, l.prefix[:i])
	}
	if path == l.dir {
		return dirFrame{path: path}, nil
	}
	rel, err := filepath.Rel(l.dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return dirFrame{}, fmt.Errorf("fileblob: key %q escapes bucket root", l.prefix)
	}
	return dirFrame{rel: filepath.ToSlash(rel) + "/", path: path}, nil
}

// walks reports whether the walk goes into the directory named dir (with
// its trailing "/"): not when no key under it can have the prefix, as
// fileblob skips it, nor when every name under it is up to after.
func (l *DirLister) walks(dir string) bool {
	key := unescapeName(dir)
	if len(key) > len(l.prefix) && !strings.HasPrefix(key, l.prefix) {
		return false
	}
	// Every name under a plain directory starts with its own name, so
	// all of them sort before an after that follows it without being
	// under it (for StartAfter, a name itself, any directory).
	if dir < l.StartAfter && !strings.HasPrefix(l.StartAfter, dir) {
		return false
	}
	return !(ownName(dir) && dir < l.after && !strings.HasPrefix(l.after, dir))
}

// readDir reads f's entries in the order of their names (a directory's
// with its "/") and notes which of them are sidecars. A directory that is
// gone is empty; what cannot be read of one is reported to Skipped and
// left out, as fileblob leaves it out.
func (l *DirLister) readDir(f *dirFrame) {
	f.read = true
	readAt := time.Now()
	entries, err := readDirEntries(f.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) && l.Skipped != nil {
		l.Skipped(f.path, err)
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return compareEntries(a, b) })
	f.entries = entries
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), sidecarExt) {
			if f.attrs == nil {
				f.attrs = make(map[string]bool)
			}
			f.attrs[e.Name()] = true
		}
	}
	if err == nil && f.attrs == nil {
		l.bare.note(f.path, readAt)
	} else {
		l.bare.forget(f.path)
	}
}

// readDirEntries reads a directory's entries, unsorted (a variable for
// tests).
var readDirEntries = func(path string) ([]os.DirEntry, error) {
	d, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

// compareEntries orders two entries of a directory as their names order
// the paths under them: a directory's name as if it ended in "/".
func compareEntries(a, b os.DirEntry) int {
	an, bn := a.Name(), b.Name()
	n := min(len(an), len(bn))
	if c := strings.Compare(an[:n], bn[:n]); c != 0 {
		return c
	}
	// One name is a prefix of the other: compare the byte after it, "/"
	// for a directory and nothing for a file.
	return cmp.Compare(after(an, n, a.IsDir()), after(bn, n, b.IsDir()))
}

// after is the byte of an entry's path at i: of its name, or "/" just past
// a directory's name (-1 past a file's).
func after(name string, i int, dir bool) int {
	switch {
	case i < len(name):
		return int(name[i])
	case dir:
		return '/'
	}
	return -1
}

// readSidecarMD5 is the MD5 a fileblob sidecar records, nil when it cannot
// be read (as fileblob's listing has it).
func readSidecarMD5(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var sc sidecar
	if json.Unmarshal(data, &sc) != nil {
		return nil
	}
	return sc.MD5
}

// ownName reports a name that is its own key and its own name in a
// listing (fileName in scan): no byte below 0x20, no text that may read as
// an escape ("__0x"), no ".." before a "/", valid UTF-8. Every name under
// such a directory starts with the directory's name.
func ownName(name string) bool {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c < 0x20:
			return false
		case c == '/' && i > 1 && name[i-1] == '.' && name[i-2] == '.':
			return false
		}
	}
	return !strings.Contains(name, "__0x") && utf8.ValidString(name)
}

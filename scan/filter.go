package scan

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// filter decides which source keys a run considers.
type filter struct {
	prefix  string
	include []Glob
	exclude []Glob
	shard   int
	shards  int
	keys    KeyRange
}

func newFilter(o *Options) (*filter, error) {
	f := &filter{prefix: o.Prefix, shard: o.Shard, shards: o.Shards, keys: o.Range}
	if err := o.Range.Check(); err != nil {
		return nil, err
	}
	if f.shards > 1 && (f.shard < 0 || f.shard >= f.shards) {
		return nil, fmt.Errorf("shard %d/%d: the index must be 0..%d", f.shard, f.shards, f.shards-1)
	}
	for _, g := range o.Include {
		gl, err := CompileGlob(g)
		if err != nil {
			return nil, fmt.Errorf("--include %q: %w", g, err)
		}
		f.include = append(f.include, gl)
	}
	for _, g := range o.Exclude {
		gl, err := CompileGlob(g)
		if err != nil {
			return nil, fmt.Errorf("--exclude %q: %w", g, err)
		}
		f.exclude = append(f.exclude, gl)
	}
	return f, nil
}

// match reports whether key is part of this run.
func (f *filter) match(key string) bool {
	return f.keys.Contains(key) && f.matchListed(key)
}

// matchListed is match for a key from a listing, which keeps to the range
// itself (by the key's name in the store, see KeyRange).
func (f *filter) matchListed(key string) bool {
	if !strings.HasPrefix(key, f.prefix) {
		return false
	}
	if len(f.include) > 0 {
		ok := false
		for _, g := range f.include {
			if g.match(key) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, g := range f.exclude {
		if g.match(key) {
			return false
		}
	}
	return f.shards <= 1 || ShardOf(key, f.shards) == f.shard
}

// ShardOf returns the 0-based shard of key among n (FNV-1a of the key).
func ShardOf(key string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(n))
}

// match matches the whole key, or for a pattern without "/" also the
// key's last path element (so "*.jpg" matches "img/a.jpg").
func (g Glob) match(key string) bool {
	if ok, _ := doublestar.Match(g.pattern, key); ok {
		return true
	}
	if !strings.Contains(g.pattern, "/") {
		if i := strings.LastIndexByte(key, '/'); i >= 0 {
			ok, _ := doublestar.Match(g.pattern, key[i+1:])
			return ok
		}
	}
	return false
}

// Glob is a checked --include/--exclude pattern.
type Glob struct{ pattern string }

// CompileGlob checks a glob (github.com/bmatcuk/doublestar/v4 syntax): "*"
// matches anything but "/", "**" as a whole path segment any number of
// segments ("dir/**", "**/x.jpg"), "?" one character but "/", "[...]" a
// class ("[!...]" or "[^...]" negated), "{a,b}" either alternative, "\"
// escapes the next character.
func CompileGlob(g string) (Glob, error) {
	if g == "" {
		return Glob{}, fmt.Errorf("empty pattern")
	}
	if !doublestar.ValidatePattern(g) {
		return Glob{}, fmt.Errorf("bad pattern (unclosed [ or {, or a trailing \\)")
	}
	return Glob{g}, nil
}

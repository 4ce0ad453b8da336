package scan

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
)

// filter decides which source keys a run considers.
type filter struct {
	prefix  string
	include []glob
	exclude []glob
	shard   int
	shards  int
}

func newFilter(o *Options) (*filter, error) {
	f := &filter{prefix: o.Prefix, shard: o.Shard, shards: o.Shards}
	if f.shards > 1 && (f.shard < 0 || f.shard >= f.shards) {
		return nil, fmt.Errorf("shard %d/%d: the index must be 0..%d", f.shard, f.shards, f.shards-1)
	}
	for _, g := range o.Include {
		re, err := CompileGlob(g)
		if err != nil {
			return nil, fmt.Errorf("--include %q: %w", g, err)
		}
		f.include = append(f.include, glob{re, strings.Contains(g, "/")})
	}
	for _, g := range o.Exclude {
		re, err := CompileGlob(g)
		if err != nil {
			return nil, fmt.Errorf("--exclude %q: %w", g, err)
		}
		f.exclude = append(f.exclude, glob{re, strings.Contains(g, "/")})
	}
	return f, nil
}

// match reports whether key is part of this run.
func (f *filter) match(key string) bool {
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

// globMatch matches the whole key, or for a pattern without "/" also the
// key's last path element (so "*.jpg" matches "img/a.jpg").
func (g glob) match(key string) bool {
	if g.re.MatchString(key) {
		return true
	}
	if !g.slash {
		if i := strings.LastIndexByte(key, '/'); i >= 0 {
			return g.re.MatchString(key[i+1:])
		}
	}
	return false
}

type glob struct {
	re    *regexp.Regexp
	slash bool // the pattern names a path, not a base name
}

// CompileGlob turns a glob into an anchored regexp: "**" matches anything,
// "*" anything but "/", "?" one character but "/", "[...]" a class, "\"
// escapes the next character.
func CompileGlob(g string) (*regexp.Regexp, error) {
	if g == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(g)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch c {
		case '*':
			if i+1 < len(rs) && rs[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := i + 1
			if j < len(rs) && (rs[j] == '!' || rs[j] == '^') {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unclosed [")
			}
			class := string(rs[i+1 : j])
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i = j
		case '\\':
			if i+1 >= len(rs) {
				return nil, fmt.Errorf("trailing \\")
			}
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("bad pattern: %v", err)
	}
	return re, nil
}

package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// keySpace is N generated keys in byte order without storing them: key(i)
// is "tTT/mMMM/fIIIIIIII.bin" with fixed widths, so that i orders them. A
// few odd keys (spaces, dashes and dots next to slashes, unicode, "+",
// "%") are merged in.
type keySpace struct {
	n          int
	perT, perM int
	odd        []string // sorted
	oddPos     []int    // oddPos[j]: the generated keys before odd[j]
}

var oddKeys = []string{
	"a b/c d.txt", "a-b", "a.b", "a/b", "plus+sign", "per%cent", "unicodé/日本語.txt", "with space.txt",
	"t00-x/y", "t00.x", "t00 (copy)/z", "t01/m000-old", "z~", "zz/top/x", "emoji/😀",
}

func newKeySpace(n int) *keySpace {
	ks := &keySpace{n: n, perT: max(1, (n+63)/64)}
	ks.perM = max(1, (ks.perT+127)/128)
	ks.odd = append([]string(nil), oddKeys...)
	sort.Strings(ks.odd)
	for _, k := range ks.odd {
		ks.oddPos = append(ks.oddPos, sort.Search(n, func(i int) bool { return ks.gen(i) >= k }))
	}
	return ks
}

func (ks *keySpace) len() int { return ks.n + len(ks.odd) }

func (ks *keySpace) gen(i int) string {
	b := make([]byte, 0, 24)
	b = appendPadded(append(b, 't'), i/ks.perT, 2)
	b = appendPadded(append(b, "/m"...), (i%ks.perT)/ks.perM, 3)
	b = appendPadded(append(b, "/f"...), i, 8)
	return string(append(b, ".bin"...))
}

// appendPadded appends n as fmt's %0<width>d does.
func appendPadded(b []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// parse returns the index of a generated key, or -1.
func (ks *keySpace) parse(key string) int {
	var t, m, i int
	if _, err := fmt.Sscanf(key, "t%02d/m%03d/f%08d.bin", &t, &m, &i); err != nil || i < 0 || i >= ks.n || ks.gen(i) != key {
		return -1
	}
	return i
}

// has reports whether key exists and returns its size.
func (ks *keySpace) has(key string) (int64, bool) {
	if i := ks.parse(key); i >= 0 {
		return size(key), true
	}
	j := sort.SearchStrings(ks.odd, key)
	if j < len(ks.odd) && ks.odd[j] == key {
		return size(key), true
	}
	return 0, false
}

func size(key string) int64 { return int64(100 + len(key)*7) }

func etag(key string) string {
	h := md5.Sum([]byte(key))
	return hex.EncodeToString(h[:])
}

// page returns up to max keys after after (and >= prefix) with prefix, in
// byte order, and whether more follow.
func (ks *keySpace) page(prefix, after string, limit int) ([]string, bool) {
	from := max(after, prefix)
	incl := after < prefix // prefix itself may be a key
	gi := sort.Search(ks.n, func(i int) bool {
		k := ks.gen(i)
		return k > from || incl && k == from
	})
	oi := sort.Search(len(ks.odd), func(i int) bool {
		k := ks.odd[i]
		return k > from || incl && k == from
	})
	var keys []string
	g := ""
	for len(keys) <= limit {
		if g == "" && gi < ks.n {
			g = ks.gen(gi)
		}
		var k string
		switch {
		case g != "" && (oi >= len(ks.odd) || g < ks.odd[oi]):
			k, g = g, ""
			gi++
		case oi < len(ks.odd):
			k = ks.odd[oi]
			oi++
		default:
			return keys, false
		}
		if !strings.HasPrefix(k, prefix) {
			if k > prefix {
				return keys, false
			}
			continue
		}
		if len(keys) == limit {
			return keys, true
		}
		keys = append(keys, k)
	}
	return keys, false
}

// pageDelim is page with the delimiter "/": up to limit keys and common
// prefixes (the part of a key up to the first "/" after prefix) after
// after, and whether more follow.
func (ks *keySpace) pageDelim(prefix, after string, limit int) (keys, dirs []string, more bool) {
	for {
		batch, bmore := ks.page(prefix, after, limit-len(keys)-len(dirs))
		jumped := false
		for _, k := range batch {
			if len(keys)+len(dirs) == limit {
				return keys, dirs, true
			}
			if i := strings.IndexByte(k[len(prefix):], '/'); i >= 0 {
				d := k[:len(prefix)+i+1]
				dirs = append(dirs, d)
				after, jumped = d+"\xff", true // UTF-8 has no 0xff: past every key under d
				break
			}
			keys = append(keys, k)
			after = k
		}
		switch {
		case len(keys)+len(dirs) == limit:
			_, m := ks.page(prefix, after, 1)
			return keys, dirs, m
		case !jumped && !bmore:
			return keys, dirs, false
		}
	}
}

// item returns the key of a pageIdx item.
func (ks *keySpace) item(it int) string {
	if it < 0 {
		return ks.odd[-it-1]
	}
	return ks.gen(it)
}

// pageIdx is page for the listings that have no delimiter, without
// building the generated keys: an item >= 0 is the index of a generated
// key, an item < 0 is the odd key -item-1.
func (ks *keySpace) pageIdx(prefix, after string, limit int, items []int) ([]int, bool) {
	from := max(after, prefix)
	incl := after < prefix // prefix itself may be a key
	past := func(k string) bool { return k > from || incl && k == from }
	beyond := func(k string) bool { return k > prefix && !strings.HasPrefix(k, prefix) }
	gi := sort.Search(ks.n, func(i int) bool { return past(ks.gen(i)) })
	ghi := sort.Search(ks.n, func(i int) bool { return beyond(ks.gen(i)) })
	oi := sort.Search(len(ks.odd), func(i int) bool { return past(ks.odd[i]) })
	ohi := sort.Search(len(ks.odd), func(i int) bool { return beyond(ks.odd[i]) })
	for {
		var item int
		switch {
		case gi < ghi && (oi >= ohi || gi < ks.oddPos[oi]):
			item = gi
			gi++
		case oi < ohi:
			item = -oi - 1
			oi++
		default:
			return items, false
		}
		if len(items) == limit {
			return items, true
		}
		items = append(items, item)
	}
}

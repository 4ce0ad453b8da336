package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestPageIdx checks the index listing against page, the listing that
// builds every key, for prefixes and start points inside, between and
// around the generated and odd keys.
func TestPageIdx(t *testing.T) {
	ks := newKeySpace(5000)
	var bounds []string
	for i := 0; i < ks.n; i += 97 {
		bounds = append(bounds, ks.gen(i))
	}
	bounds = append(bounds, ks.odd...)
	bounds = append(bounds, "", "t", "t00", "t00/", "t00/m0", "t01/m000", "t0", "u", "\xff", "a", "z")
	for _, prefix := range []string{"", "t", "t00/", "t01/m00", "t00/m000/f00000001", "a", "emoji/", "zz", "nothing"} {
		for _, after := range bounds {
			for _, limit := range []int{1, 7, 1000} {
				want, wantMore := ks.page(prefix, after, limit)
				items, more := ks.pageIdx(prefix, after, limit, nil)
				var got []string
				for _, it := range items {
					got = append(got, ks.item(it))
				}
				if !slices.Equal(got, want) || more != wantMore {
					t.Fatalf("prefix %q after %q limit %d: pageIdx %d keys (more %v) %.3q, page %d keys (more %v) %.3q",
						prefix, after, limit, len(got), more, got, len(want), wantMore, want)
				}
			}
		}
	}
}

// TestPrerender checks that a prerendered entry is what the endpoint
// writes for the key under both encodings.
func TestPrerender(t *testing.T) {
	s := &server{keys: newKeySpace(3000)}
	s.prerender()
	for _, i := range []int{0, 1, 46, 47, 1234, 2999} {
		k := s.keys.gen(i)
		for _, name := range []func(*bytes.Buffer, string){xmlName, urlName} {
			var b bytes.Buffer
			writeContents(&b, k, name)
			if got := string(s.frags[i*s.fragLen : (i+1)*s.fragLen]); got != b.String() {
				t.Fatalf("key %d %q: prerendered %q, written %q", i, k, got, b.String())
			}
		}
		if !strings.Contains(string(s.frags[i*s.fragLen:(i+1)*s.fragLen]), "<Key>"+k+"</Key>") {
			t.Fatalf("key %d: entry does not name %q", i, k)
		}
	}
}

package rules

import "strings"

// Suggest returns the entry of known that name most likely misspells, or ""
// when none is close: the same word spelt with another case, "_" or "-"
// (keyPrefix for key_prefix), a dotted key that ends in name (listen for
// serve.listen), an edit distance of at most 2, or an entry that starts with
// name. It is ferry's one "did you mean" helper: rule fields, config keys and
// commands all use it.
func Suggest(name string, known []string) string {
	if name == "" {
		return ""
	}
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(s))
	}
	best, bestScore := "", 4
	for _, k := range known {
		score := 4
		switch d := editDistance(strings.ToLower(name), strings.ToLower(k)); {
		case norm(k) == norm(name):
			score = 0
		case strings.HasSuffix(k, "."+name):
			score = 1
		case d <= 2:
			score = 1 + d
		case strings.HasPrefix(strings.ToLower(k), strings.ToLower(name)):
			score = 3
		}
		if score < bestScore || (score == bestScore && k < best) {
			best, bestScore = k, score
		}
	}
	return best
}

// editDistance is the edit distance between a and b with a swap of two
// adjacent characters counted as one edit, as an insertion, a deletion or a
// substitution is (optimal string alignment): "lsit" is one edit from
// "list", two from "edit".
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1) // row i-2
	prev := make([]int, len(b)+1)  // row i-1
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

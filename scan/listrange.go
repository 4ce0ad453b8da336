package scan

import (
	"fmt"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-migrate/ferry/store"
)

// KeyRange is a range of keys in byte order: After < key <= Until. An
// empty After has no lower bound, an empty Until no upper bound, so the
// zero KeyRange holds every key. Consecutive ranges (a, b], (b, c] hold
// every key exactly once: partitions are made of them.
//
// A listing compares keys as its store names them (see sortKeyOf): the s3
// and file drivers store the few keys with a byte below 0x20, "../" or
// text that looks like an escape ("__0x41__") hex-escaped, and such a key
// is placed in a range by its escaped name. A key list has no store order
// and compares the keys themselves.
type KeyRange struct {
	After string `json:"after,omitempty"`
	Until string `json:"until,omitempty"`
}

// Contains reports whether key is in the range.
func (kr KeyRange) Contains(key string) bool {
	return (kr.After == "" || key > kr.After) && (kr.Until == "" || key <= kr.Until)
}

// Check reports a range whose bounds are the wrong way round.
func (kr KeyRange) Check() error {
	if kr.After != "" && kr.Until != "" && kr.Until <= kr.After {
		return fmt.Errorf("key range %s: until must sort after after", kr)
	}
	return nil
}

// String is "(after, until]", with "" for an open end.
func (kr KeyRange) String() string {
	return fmt.Sprintf("(%q, %q]", kr.After, kr.Until)
}

// IsZero reports the range of every key.
func (kr KeyRange) IsZero() bool { return kr == KeyRange{} }

// Listing a range
//
// A listing is byte-ordered only in part. A directory walk (fileblob)
// lists a directory's entries by name, so "a/b" comes before "a-b" and
// "a.b"; escaped keys sort by their escaped names everywhere ("a\tb" is
// "a__0x9__b" on S3). A range listing trusts only what byte order and a
// walk's order agree on:
//
//   - It starts after startAfter(After) (S3 start-after; elsewhere the
//     keys up to it are skipped): After cut before its first byte that is
//     neither plain nor "/". Every name after After follows it in both
//     orders.
//   - It stops at the first name >= stopBound(Until): the run of plain
//     bytes (above "/", so no "/" either) that follows the listing prefix,
//     with its last byte bumped. A name that reaches the bound follows
//     every name of the range in both orders, so nothing of the range is
//     still to come. With "/" in the run that would not hold: a walk lists
//     "a-b" after every "a/...".
//   - Between the two every name is filtered by the range.

// plainByte reports a byte that sorts the same in every listing order: above
// "/" and below DEL.
func plainByte(c byte) bool { return '/' < c && c < 0x7f }

// startAfter is a name a listing of (after, ...] may start after.
func startAfter(after string) string {
	i := 0
	for i < len(after) && (plainByte(after[i]) || after[i] == '/') {
		i++
	}
	return after[:i]
}

// stopBound is the smallest name at which a listing under prefix whose
// range ends at until may stop: "" when it must list to the end.
func stopBound(until, prefix string) string {
	if until == "" || !strings.HasPrefix(until, prefix) {
		return "" // open, or until is past every name under prefix
	}
	i := len(prefix)
	for i < len(until) && plainByte(until[i]) {
		i++
	}
	if i == len(prefix) {
		return ""
	}
	return until[:i-1] + string(until[i-1]+1)
}

// listPrefix narrows prefix to the prefix every name of kr shares with it,
// and reports false when kr holds no name under prefix.
func (kr KeyRange) listPrefix(prefix string) (string, bool) {
	if kr.After != "" && kr.After > prefix && !strings.HasPrefix(kr.After, prefix) {
		return prefix, false // every name under prefix is <= After
	}
	if kr.Until != "" && kr.Until < prefix {
		return prefix, false // every name under prefix is > Until
	}
	if kr.After == "" || kr.Until == "" {
		return prefix, true
	}
	cp := commonPrefix(kr.After, kr.Until)
	// Only a prefix that is its own name narrows the listing (the listing's
	// prefix is a key prefix, escaped again by the driver).
	if len(cp) > len(prefix) && strings.HasPrefix(cp, prefix) && plainPrefix(cp) {
		return cp, true
	}
	return prefix, true
}

// plainPrefix reports a prefix that every driver lists under its own text.
func plainPrefix(p string) bool {
	for i := 0; i < len(p); i++ {
		if !plainByte(p[i]) && p[i] != '/' || p[i] == '_' || p[i] == '/' && i > 0 && p[i-1] == '/' {
			return false
		}
	}
	return true
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return a[:i]
}

// rangeCursor decides, name by name in listing order, what a listing of a
// range keeps and where it stops.
type rangeCursor struct {
	kr     KeyRange
	prefix string // the listing's prefix, as a name
	stop   string // stopBound(kr.Until, prefix); "" : list to the end
	under  string // only names that start with it are kept
}

func newRangeCursor(kr KeyRange, prefix string) *rangeCursor {
	return &rangeCursor{kr: kr, prefix: prefix, stop: stopBound(kr.Until, prefix)}
}

// setUntil moves the range's end down (a split gave the rest away).
func (c *rangeCursor) setUntil(until string) {
	c.kr.Until = until
	c.stop = stopBound(until, c.prefix)
}

// next reports whether the listing keeps name and whether it is done: name
// and everything after it belong to later ranges.
func (c *rangeCursor) next(name string) (keep, done bool) {
	if c.stop != "" && name >= c.stop {
		return false, true
	}
	return c.kr.Contains(name) && strings.HasPrefix(name, c.under), false
}

// sortKeyOf returns the function that maps a key to the name b sorts it by:
// gocloud's escaping for the file, s3 and gcs drivers, the key itself
// elsewhere.
func sortKeyOf(b *store.Bucket) func(string) string {
	if b.Dir() != "" {
		return fileName
	}
	var c *s3.Client
	if b.As(&c) {
		return s3Name
	}
	var gc *storage.Client
	if b.As(&gc) {
		return store.GCSName
	}
	return func(k string) string { return k }
}

// canStartAfter reports a bucket whose listing can start after a given name
// without reading what comes before: S3 (start-after), GCS (startOffset).
// (fileblob's page token, the last key listed, compares keys, not their
// escaped names.)
func canStartAfter(b *store.Bucket) bool {
	var c *s3.Client
	var gc *storage.Client
	return b.As(&c) || b.As(&gc)
}

// s3Name is the name gocloud's s3 driver stores key under.
func s3Name(key string) string { return store.S3Name(key) }

// fileName is the path (with "/") gocloud's file driver stores key under.
func fileName(key string) string { return store.FileName(key) }

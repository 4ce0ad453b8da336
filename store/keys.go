package store

import (
	"errors"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// MaxKeyBytes is the longest key a target takes, as in S3.
const MaxKeyBytes = 1024

// Why CheckKey refuses a key.
var (
	ErrKeyTooLong = errors.New("key longer than 1024 bytes")
	ErrKeyUTF8    = errors.New("key is not valid UTF-8")
	ErrKeyControl = errors.New("key contains a control character")
	ErrKeyDots    = errors.New(`key contains a "." or ".." path segment`)
)

// CheckKey is the one rule for a key ferry reads or writes in a target: at
// most MaxKeyBytes bytes of valid UTF-8 without control characters (C0 and
// DEL), and no "." or ".." path segment (which a file target would resolve
// and an origin might). It returns one of the ErrKey* errors, or nil.
//
// Fetching a key from an HTTP origin has stricter rules of its own (empty
// segments, encoded dots): rules.OriginRequest checks those.
func CheckKey(key string) error {
	if len(key) > MaxKeyBytes {
		return ErrKeyTooLong
	}
	if !utf8.ValidString(key) {
		return ErrKeyUTF8
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c == 0x7f {
			return ErrKeyControl
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return ErrKeyDots
		}
	}
	return nil
}

// escapedByDriver reports whether gocloud's S3 and file drivers store key
// under another name than the key itself: both hex-escape non-UTF-8 keys,
// control characters, the "/" of "../" and anything that looks like their
// own escapes ("__0x"). A path that bypasses the driver (the direct PUT, the
// file fast path) must leave such keys to it.
func escapedByDriver(key string) bool {
	if key == "" || !utf8.ValidString(key) || strings.Contains(key, "../") || strings.Contains(key, "__0x") {
		return true
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 {
			return true
		}
	}
	return false
}

// plainFileKey reports whether fileblob stores key at dir/key unescaped:
// besides what every driver escapes, fileblob escapes "//" and a trailing
// "/", reserves names ending in its sidecar extension, and maps "/" to the
// path separator.
func plainFileKey(key string) bool {
	return filepath.Separator == '/' && !escapedByDriver(key) && !strings.Contains(key, "//") &&
		!strings.HasSuffix(key, "/") && !strings.HasSuffix(key, sidecarExt)
}

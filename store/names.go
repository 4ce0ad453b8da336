package store

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// S3Name is the name gocloud's s3 driver stores key under: key itself,
// unless it has control characters, a "../", invalid UTF-8 or text that
// reads as one of the driver's escapes ("__0x41__"); those are hex-escaped.
func S3Name(key string) string {
	if !maybeS3Escaped(key) {
		return key
	}
	return HexEscape(key, func(r []rune, i int) bool {
		return r[i] < 0x20 || i > 1 && r[i] == '/' && r[i-1] == '.' && r[i-2] == '.'
	})
}

// GCSName is the name gocloud's gcs driver stores key under: key itself,
// unless it has a carriage return or line feed, a "../" or text that reads
// as one of the driver's escapes; those are hex-escaped.
func GCSName(key string) string {
	if !strings.ContainsAny(key, "\r\n") && !strings.Contains(key, "../") && !strings.Contains(key, "__0x") && utf8.ValidString(key) {
		return key
	}
	return HexEscape(key, func(r []rune, i int) bool {
		return r[i] == '\n' || r[i] == '\r' || i > 1 && r[i] == '/' && r[i-1] == '.' && r[i-2] == '.'
	})
}

// maybeS3Escaped is a quick test for keys S3Name may change.
func maybeS3Escaped(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 {
			return true
		}
	}
	return strings.Contains(key, "__0x") || strings.Contains(key, "../") || !utf8.ValidString(key)
}

// HexEscape is gocloud's internal/escape.HexEscape: the runes esc picks,
// and the start of any text that would read as an escape, become
// "__0x<hex>__" (invalid UTF-8 turns into U+FFFD on the way, as there).
func HexEscape(s string, esc func(r []rune, i int) bool) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if esc(r, i) || isHexEscape(r, i) {
			fmt.Fprintf(&b, "__%#x__", c)
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// isHexEscape reports whether r[i:] starts with "__0x<hex>__".
func isHexEscape(r []rune, i int) bool {
	_, _, ok := readHexEscape(r, i)
	return ok
}

// readHexEscape reads "__0x<hex>__" at r[i:]: the rune it stands for and
// the index of its last rune.
func readHexEscape(r []rune, i int) (rune, int, bool) {
	if i+4 > len(r) || string(r[i:i+4]) != "__0x" {
		return 0, 0, false
	}
	j := i + 4
	for j < len(r) && r[j] != '_' {
		j++
	}
	if j+1 >= len(r) || r[j+1] != '_' {
		return 0, 0, false
	}
	n, err := strconv.ParseInt(string(r[i+4:j]), 16, 32)
	if err != nil {
		return 0, 0, false
	}
	return rune(n), j + 1, true
}

// hexUnescape is gocloud's internal/escape.HexUnescape, which s3blob
// applies to every listed name and azureblob to every metadata name.
func hexUnescape(s string) string {
	r := []rune(s)
	var out []rune
	for i := 0; i < len(r); i++ {
		if c, last, ok := readHexEscape(r, i); ok {
			if out == nil {
				out = append(make([]rune, 0, len(r)), r[:i]...)
			}
			out = append(out, c)
			i = last
		} else if out != nil {
			out = append(out, r[i])
		}
	}
	if out == nil {
		return s
	}
	return string(out)
}

// FileName is the path (with "/") gocloud's file driver stores key under.
func FileName(key string) string {
	if !fileEscaped(key) {
		return key
	}
	return HexEscape(key, func(r []rune, i int) bool {
		c := r[i]
		return c < 0x20 || i > 1 && c == '/' && r[i-1] == '.' && r[i-2] == '.' ||
			i > 0 && c == '/' && r[i-1] == '/' || c == '/' && i == len(r)-1
	})
}

// fileEscaped reports a key whose file name is not the key itself: one
// with a byte below 0x20, a "../", a "//", a trailing "/", text that may
// read as an escape ("__0x") or invalid UTF-8 (which HexEscape replaces).
func fileEscaped(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 {
			return true
		}
	}
	return strings.Contains(key, "__0x") || strings.Contains(key, "../") || strings.Contains(key, "//") ||
		strings.HasSuffix(key, "/") || !utf8.ValidString(key)
}

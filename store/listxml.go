package store

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	smithytime "github.com/aws/smithy-go/time"
)

// A scanner of the one XML document a Lister reads: ListBucketResult (or an
// Error). encoding/xml's Decoder costs microseconds per element; this walks
// the bytes once and keeps slices of the body. It reads well-formed XML of
// any layout (whitespace, comments, processing instructions, CDATA,
// attributes, character and entity references, elements it does not know)
// and refuses a DOCTYPE and unbalanced tags. Only the fields a listing needs
// are kept. (The one fast XML tokenizer in reach, muktihari/xmltokenizer,
// trims spaces around text and leaves entities undecoded: a key " a" or
// "a&b" would come out changed.)

// listResult is what scan keeps of a ListBucketResult.
type listResult struct {
	objs       []rawObject
	prefixes   [][]byte // CommonPrefixes, raw
	next       []byte   // NextContinuationToken
	truncated  bool
	urlEncoded bool // EncodingType url: names are url-encoded
	slow       bool // no fastContents (a test compares the two)
	errCode    string
	errMessage string
	root       string
	lastMod    []byte // the last LastModified text and its time
	lastTime   time.Time
}

type rawObject struct {
	name []byte // the Key text, entity references decoded
	// etag is the ETag text; with quoted, the part between the quotes of
	// a quoted ETag, whose quotes fill puts back.
	etag   []byte
	quoted bool
	size   int64
	mod    time.Time
	hasKey bool
	// where fill put the decoded name and the ETag in the page's text
	nameEnd, etagEnd int
}

type xmlToken int

const (
	tokEOF xmlToken = iota
	tokStart
	tokEmpty // <name/>
	tokEnd
	tokText
	tokCDATA
	tokSkip // a comment or processing instruction
)

// maxDepth is how deep the element names are kept; deeper elements (none
// in a listing) are checked for balance only by count.
const maxDepth = 8

// scan reads body into r.
func (r *listResult) scan(body []byte) error {
	r.objs = r.objs[:0] // with the room of the last page
	s := xmlScanner{b: body}
	// path holds the open elements' names as written, local their local
	// names (without a namespace prefix), taken once at the start tag.
	var path, local [maxDepth][]byte
	depth := 0
	var text elemText
	var obj rawObject
	for {
		tok, data, err := s.next()
		if err != nil {
			return err
		}
		switch tok {
		case tokEOF:
			if r.root == "" {
				return errors.New("no XML document")
			}
			if depth != 0 {
				return fmt.Errorf("XML ends inside <%s>", path[min(depth, maxDepth)-1])
			}
			return nil
		case tokStart, tokEmpty:
			name := localName(data)
			if err := r.start(depth, name, data); err != nil {
				return err
			}
			if depth < maxDepth {
				path[depth], local[depth] = data, name
			}
			if depth == 1 && !r.slow && tok == tokStart && string(data) == "Contents" && bytes.HasSuffix(body[:s.i], []byte("<Contents>")) {
				if i, ok := r.fastContents(body, s.i); ok {
					s.i = i
					continue
				}
			}
			depth++
			text = elemText{}
			if depth == 2 && string(name) == "Contents" {
				obj = rawObject{}
			}
			if tok == tokEmpty {
				if err := r.end(local[:min(depth, maxDepth)], depth, elemText{}, &obj); err != nil {
					return err
				}
				depth--
			}
		case tokText, tokCDATA:
			if text.b == nil && tok == tokText {
				text = elemText{b: data, raw: true} // decoded when used
				continue
			}
			if text, err = text.add(data, tok == tokText); err != nil {
				return err
			}
		case tokEnd:
			// An end tag repeats its start tag's name as written.
			if depth == 0 || depth <= maxDepth && !bytes.Equal(path[depth-1], data) {
				return fmt.Errorf("XML: unexpected </%s>", data)
			}
			if err := r.end(local[:min(depth, maxDepth)], depth, text, &obj); err != nil {
				return err
			}
			depth--
			text = elemText{}
		}
	}
}

// fastContents reads a Contents element laid out as S3 writes it, from just
// after its start tag: child elements one after the other, each a start tag
// without attributes or namespace prefix, one piece of text without
// comments or CDATA, and its end tag. It reports false for anything else
// (whitespace between the children, an Owner, a field the general path would
// refuse) and the scanner then reads the element as it reads the rest.
// Each field's text goes through endObjectField, as on the general path.
func (r *listResult) fastContents(b []byte, i int) (int, bool) {
	const end = "</Contents>"
	var obj rawObject
	for {
		if i+1 >= len(b) || b[i] != '<' {
			return 0, false
		}
		if b[i+1] == '/' {
			if !obj.hasKey || !bytes.HasPrefix(b[i:], []byte(end)) {
				return 0, false
			}
			r.objs = append(r.objs, obj)
			return i + len(end), true
		}
		j := bytes.IndexByte(b[i+1:], '>')
		if j <= 0 {
			return 0, false
		}
		name := b[i+1 : i+1+j]
		for _, c := range name {
			if isNameEnd(c) || c == ':' || c == '"' || c == '\'' || c == '=' || c == '<' {
				return 0, false
			}
		}
		from := i + 1 + j + 1
		k := bytes.IndexByte(b[from:], '<')
		if k < 0 {
			return 0, false
		}
		to := from + k
		// </name>
		if len(b) < to+3+len(name) || b[to+1] != '/' || !bytes.Equal(b[to+2:to+2+len(name)], name) || b[to+2+len(name)] != '>' {
			return 0, false
		}
		if err := r.endObjectField(name, elemText{b: b[from:to], raw: true}, &obj); err != nil {
			return 0, false
		}
		i = to + 3 + len(name)
	}
}

// elemText is the text of the current element: with raw, one piece as it
// stands in the body (references not yet resolved), which saves a copy of
// the usual case.
type elemText struct {
	b   []byte
	raw bool
}

// add appends a piece of text (to be decoded when it is plain text, not
// CDATA).
func (e elemText) add(t []byte, plain bool) (elemText, error) {
	cur, err := e.bytes()
	if err != nil {
		return e, err
	}
	if plain {
		if t, err = decodeText(t); err != nil {
			return e, err
		}
	}
	return elemText{b: append(append(make([]byte, 0, len(cur)+len(t)), cur...), t...)}, nil
}

// bytes returns the decoded text.
func (e elemText) bytes() ([]byte, error) {
	if e.raw {
		return decodeText(e.b)
	}
	return e.b, nil
}

func (r *listResult) start(depth int, name, written []byte) error {
	if depth > 0 {
		return nil
	}
	if r.root != "" {
		return errors.New("XML: a second root element")
	}
	r.root = string(name)
	if r.root != "ListBucketResult" && r.root != "Error" {
		return fmt.Errorf("XML: <%s>, want <ListBucketResult>", written)
	}
	return nil
}

// end takes the text of the element that ends at depth (1: the root),
// path holding the local names of it and its parents.
func (r *listResult) end(path [][]byte, depth int, et elemText, obj *rawObject) error {
	switch {
	case depth < 2 || depth > 3:
		return nil
	case r.root == "Error":
		return r.endError(path, depth, et)
	case depth == 2:
		return r.endField(path[1], et, obj)
	}
	switch string(path[1]) {
	case "Contents":
		return r.endObjectField(path[2], et, obj)
	case "CommonPrefixes":
		if string(path[2]) == "Prefix" {
			text, err := et.bytes()
			if err != nil {
				return err
			}
			r.prefixes = append(r.prefixes, text)
		}
	}
	return nil
}

func (r *listResult) endError(path [][]byte, depth int, et elemText) error {
	if depth != 2 {
		return nil
	}
	text, err := et.bytes()
	switch string(path[1]) {
	case "Code":
		r.errCode = string(text)
	case "Message":
		r.errMessage = string(text)
	}
	return err
}

// endField takes a field of ListBucketResult.
func (r *listResult) endField(name []byte, et elemText, obj *rawObject) error {
	switch string(name) {
	case "Contents":
		if !obj.hasKey {
			return errors.New("XML: <Contents> without <Key>")
		}
		r.objs = append(r.objs, *obj)
		return nil
	case "NextContinuationToken", "IsTruncated", "EncodingType":
	default:
		return nil
	}
	text, err := et.bytes()
	if err != nil {
		return err
	}
	switch string(name) {
	case "NextContinuationToken":
		r.next = text
	case "IsTruncated":
		r.truncated = string(text) == "true"
	case "EncodingType":
		r.urlEncoded = string(text) == "url"
	}
	return nil
}

// endObjectField takes a field of Contents.
func (r *listResult) endObjectField(name []byte, et elemText, obj *rawObject) error {
	if string(name) == "ETag" {
		return obj.setETag(et)
	}
	switch string(name) {
	case "Key", "Size", "LastModified":
	default:
		return nil
	}
	text, err := et.bytes()
	if err != nil {
		return err
	}
	switch string(name) {
	case "Key":
		obj.name, obj.hasKey = text, true
	case "Size":
		n, ok := parseSize(text)
		if !ok {
			return fmt.Errorf("XML: <Size>%s</Size> of key %q is not a size", text, obj.name)
		}
		obj.size = n
	case "LastModified":
		if r.lastMod == nil || !bytes.Equal(text, r.lastMod) {
			t, err := smithytime.ParseDateTime(string(text))
			if err != nil {
				return fmt.Errorf("XML: <LastModified> of key %q: %w", obj.name, err)
			}
			r.lastMod, r.lastTime = text, t
		}
		obj.mod = r.lastTime
	}
	return nil
}

// setETag keeps the ETag; a quoted one (as S3 sends it: &quot;hex&quot;)
// without its quotes, so it need not be decoded.
func (o *rawObject) setETag(et elemText) error {
	if et.raw {
		for _, q := range []string{"&quot;", "&#34;", "&#x22;", `"`} {
			t := et.b
			if len(t) >= 2*len(q) && string(t[:len(q)]) == q && string(t[len(t)-len(q):]) == q &&
				bytes.IndexByte(t[len(q):len(t)-len(q)], '&') < 0 && bytes.IndexByte(t, '\r') < 0 {
				o.etag, o.quoted = t[len(q):len(t)-len(q)], true
				return nil
			}
		}
	}
	t, err := et.bytes()
	if err != nil {
		return err
	}
	o.etag, o.quoted = t, false
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		o.etag, o.quoted = t[1:len(t)-1], true
	}
	return nil
}

func parseSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		if len(b) > 18 {
			n, err := strconv.ParseInt(string(b), 10, 64)
			return n, err == nil && n >= 0
		}
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func localName(name []byte) []byte {
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// xmlScanner splits a document into tokens.
type xmlScanner struct {
	b []byte
	i int
}

// next returns the next token and its data: an element's name, or text
// (raw, with references; CDATA as is).
func (s *xmlScanner) next() (xmlToken, []byte, error) {
	for {
		tok, data, err := s.token()
		if tok != tokSkip || err != nil {
			return tok, data, err
		}
	}
}

func (s *xmlScanner) token() (xmlToken, []byte, error) {
	b, i := s.b, s.i
	if i >= len(b) {
		return tokEOF, nil, nil
	}
	if b[i] != '<' {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			j = len(b) - i
		}
		s.i = i + j
		return tokText, b[i : i+j], nil
	}
	rest := b[i:]
	if len(rest) < 2 {
		return 0, nil, errors.New("XML: '<' at the end")
	}
	switch rest[1] {
	case '/':
		j := bytes.IndexByte(rest, '>')
		if j < 0 {
			return 0, nil, errors.New("XML: unterminated end tag")
		}
		s.i += j + 1
		name := rest[2:j]
		if n := len(name); n > 0 && isSpace(name[n-1]) {
			name = bytes.TrimRight(name, " \t\r\n")
		}
		return tokEnd, name, nil
	case '?':
		return s.skipTo(rest, "?>", 2)
	case '!':
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			return s.skipTo(rest, "-->", 4)
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			j := bytes.Index(rest, []byte("]]>"))
			if j < 0 {
				return 0, nil, errors.New("XML: unterminated CDATA")
			}
			s.i += j + 3
			return tokCDATA, rest[9:j], nil
		}
		return 0, nil, errors.New("XML: DOCTYPE and declarations are not accepted")
	}
	return s.startTag(rest)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (s *xmlScanner) skipTo(rest []byte, end string, from int) (xmlToken, []byte, error) {
	j := bytes.Index(rest[from:], []byte(end))
	if j < 0 {
		return 0, nil, fmt.Errorf("XML: unterminated %s", rest[:from])
	}
	s.i += from + j + len(end)
	return tokSkip, nil, nil
}

// startTag reads <name attr="v" ...> or <name .../>, skipping attributes.
func (s *xmlScanner) startTag(rest []byte) (xmlToken, []byte, error) {
	n := 1
	for n < len(rest) && !isNameEnd(rest[n]) {
		n++
	}
	if n == 1 {
		return 0, nil, errors.New("XML: '<' without a name")
	}
	name := rest[1:n]
	if n < len(rest) && rest[n] == '>' {
		s.i += n + 1
		return tokStart, name, nil
	}
	var quote byte
	for j := n; j < len(rest); j++ {
		c := rest[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			s.i += j + 1
			if rest[j-1] == '/' {
				return tokEmpty, name, nil
			}
			return tokStart, name, nil
		}
	}
	return 0, nil, fmt.Errorf("XML: unterminated <%s", name)
}

func isNameEnd(c byte) bool { return isSpace(c) || c == '/' || c == '>' }

// decodeText resolves references (&amp; &#34; ...) and normalizes line ends
// as XML does; text without either is returned as is.
func decodeText(t []byte) ([]byte, error) {
	if bytes.IndexByte(t, '&') < 0 && bytes.IndexByte(t, '\r') < 0 {
		return t, nil
	}
	out := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch c {
		case '\r':
			out = append(out, '\n')
			if i+1 < len(t) && t[i+1] == '\n' {
				i++
			}
			continue
		case '&':
		default:
			out = append(out, c)
			continue
		}
		j := bytes.IndexByte(t[i:], ';')
		if j < 0 {
			return nil, fmt.Errorf("XML: unterminated reference in %q", t)
		}
		ref := t[i+1 : i+j]
		i += j
		var err error
		if out, err = appendRef(out, ref); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func appendRef(out, ref []byte) ([]byte, error) {
	switch string(ref) {
	case "amp":
		return append(out, '&'), nil
	case "lt":
		return append(out, '<'), nil
	case "gt":
		return append(out, '>'), nil
	case "quot":
		return append(out, '"'), nil
	case "apos":
		return append(out, '\''), nil
	}
	if len(ref) > 1 && ref[0] == '#' {
		var n uint64
		var err error
		if ref[1] == 'x' {
			n, err = strconv.ParseUint(string(ref[2:]), 16, 32)
		} else {
			n, err = strconv.ParseUint(string(ref[1:]), 10, 32)
		}
		if err == nil && utf8.ValidRune(rune(n)) {
			return utf8.AppendRune(out, rune(n)), nil
		}
	}
	return nil, fmt.Errorf("XML: unknown reference &%s;", ref)
}

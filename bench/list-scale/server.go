package main

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// server is a minimal S3 endpoint (path-style, no authentication) serving
// the key space as the buckets "origin" and "target".
type server struct {
	keys    *keySpace
	latency time.Duration
	lists   atomic.Int64
	tl      timeline
	frags   []byte // the Contents element of generated key i at i*fragLen, or nil
	fragLen int
}

const lastModified = "Mon, 01 Jan 2024 00:00:00 GMT"

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(s.latency)
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket != "origin" && bucket != "target" {
		s3Error(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	switch {
	case key == "" && r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		s.list(w, r, bucket)
	case key == "" && r.Method == http.MethodHead:
		w.WriteHeader(http.StatusOK)
	case key != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.object(w, r, key)
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented")
	}
}

func (s *server) object(w http.ResponseWriter, r *http.Request, key string) {
	n, ok := s.keys.has(key)
	if !ok {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		s3Error(w, http.StatusNotFound, "NoSuchKey")
		return
	}
	h := w.Header()
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+etag(key)+`"`)
	h.Set("Last-Modified", lastModified)
	if r.Method == http.MethodGet {
		w.Write(bytes.Repeat([]byte{'x'}, int(n)))
	}
}

func (s *server) list(w http.ResponseWriter, r *http.Request, bucket string) {
	s.lists.Add(1)
	defer s.tl.add(time.Now().Add(-s.latency)) // the request began before its latency
	q := r.URL.Query()
	delim := q.Get("delimiter")
	if delim != "" && delim != "/" {
		s3Error(w, http.StatusNotImplemented, "NotImplemented")
		return
	}
	limit := 1000
	if m, err := strconv.Atoi(q.Get("max-keys")); err == nil && m > 0 && m < limit {
		limit = m
	}
	after := q.Get("start-after")
	if tok := q.Get("continuation-token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			s3Error(w, http.StatusBadRequest, "InvalidArgument")
			return
		}
		after = string(b)
	}
	prefix := q.Get("prefix")
	var (
		keys, dirs []string
		items      []int
		more       bool
	)
	if delim == "" {
		ip := itemPool.Get().(*[]int)
		defer itemPool.Put(ip)
		items, more = s.keys.pageIdx(prefix, after, limit, (*ip)[:0])
		*ip = items
	} else {
		keys, dirs, more = s.keys.pageDelim(prefix, after, limit)
	}
	name := xmlName
	if q.Get("encoding-type") == "url" {
		name = urlName
	}
	b := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(b)
	b.Reset()
	b.Grow((len(keys)+len(items))*(len(fragmentHead)+len(fragmentTail)+80) + 1024)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>`)
	b.WriteString(bucket)
	b.WriteString("</Name><Prefix>")
	name(b, prefix)
	b.WriteString("</Prefix><KeyCount>")
	b.WriteString(strconv.Itoa(len(keys) + len(items)))
	b.WriteString("</KeyCount><MaxKeys>")
	b.WriteString(strconv.Itoa(limit))
	b.WriteString("</MaxKeys><IsTruncated>")
	b.WriteString(strconv.FormatBool(more))
	b.WriteString("</IsTruncated>")
	if more {
		last := ""
		if len(keys) > 0 {
			last = keys[len(keys)-1]
		}
		if len(items) > 0 {
			last = s.keys.item(items[len(items)-1])
		}
		if len(dirs) > 0 && dirs[len(dirs)-1] > last {
			last = dirs[len(dirs)-1] + "\xff" // after everything under it
		}
		b.WriteString("<NextContinuationToken>")
		b.WriteString(base64.RawURLEncoding.EncodeToString([]byte(last)))
		b.WriteString("</NextContinuationToken>")
	}
	for _, it := range items {
		if it >= 0 && s.frags != nil {
			b.Write(s.frags[it*s.fragLen : (it+1)*s.fragLen])
			continue
		}
		writeContents(b, s.keys.item(it), name)
	}
	for _, k := range keys {
		writeContents(b, k, name)
	}
	for _, d := range dirs {
		b.WriteString("<CommonPrefixes><Prefix>")
		name(b, d)
		b.WriteString("</Prefix></CommonPrefixes>")
	}
	if q.Get("encoding-type") == "url" {
		b.WriteString("<EncodingType>url</EncodingType>")
	}
	b.WriteString("</ListBucketResult>")
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len())) // as S3 does; not chunked
	w.Write(b.Bytes())
}

const (
	fragmentHead = "<Contents><Key>"
	fragmentTail = "</Size><StorageClass>STANDARD</StorageClass></Contents>"
)

// writeContents writes the Contents element of key, its name written by name.
func writeContents(b *bytes.Buffer, k string, name func(*bytes.Buffer, string)) {
	b.WriteString(fragmentHead)
	name(b, k)
	b.WriteString("</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>&quot;")
	var scratch [32]byte
	sum := md5.Sum([]byte(k))
	b.Write(hex.AppendEncode(scratch[:0], sum[:]))
	b.WriteString("&quot;</ETag><Size>")
	b.Write(strconv.AppendInt(scratch[:0], size(k), 10))
	b.WriteString(fragmentTail)
}

var (
	bufPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	itemPool = sync.Pool{New: func() any { return new([]int) }}
)

// prerender builds the Contents element of every generated key once, as a
// store keeps its index, so that serving a page costs the endpoint a copy
// instead of an MD5 and the formatting of every key: the endpoint shares the
// machine's cores with the ferry it measures, and a real S3 does not. It
// needs every generated key the same length and the same under either
// encoding (they are ASCII letters, digits, "/" and "."), and about 250
// bytes of memory per key.
func (s *server) prerender() {
	k0 := s.keys.gen(0)
	var probe bytes.Buffer
	writeContents(&probe, k0, xmlName)
	s.fragLen = probe.Len()
	frags := make([]byte, s.keys.n*s.fragLen)
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			for i := w; i < s.keys.n; i += workers {
				k := s.keys.gen(i)
				b.Reset()
				writeContents(&b, k, urlName)
				if b.Len() != s.fragLen || len(k) != len(k0) {
					panic("list-scale: generated keys differ in length: " + k)
				}
				copy(frags[i*s.fragLen:], b.Bytes())
			}
		}()
	}
	wg.Wait()
	s.frags = frags
}

func xmlName(b *bytes.Buffer, k string) { xml.EscapeText(b, []byte(k)) }

// urlName writes k url-encoded as S3 does for encoding-type=url: "/" and
// unreserved bytes as they are, a space as "+", the rest as %XX.
func urlName(b *bytes.Buffer, k string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message/></Error>`))
}

package serve

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// Listing is a read-only convenience for S3 clients in path addressing
// (rclone cat lists the parent of the file it reads). It lists the target
// only: keys still at the origin appear once they have been filled.

const tokenPrefix = "ferry1:"

type listContent struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag,omitempty"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

type listPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listResult struct {
	XMLName               xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string        `xml:"Name"`
	Prefix                string        `xml:"Prefix"`
	Delimiter             string        `xml:"Delimiter,omitempty"`
	MaxKeys               int           `xml:"MaxKeys"`
	IsTruncated           bool          `xml:"IsTruncated"`
	Marker                *string       `xml:"Marker,omitempty"`
	NextMarker            string        `xml:"NextMarker,omitempty"`
	ContinuationToken     string        `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string        `xml:"NextContinuationToken,omitempty"`
	StartAfter            string        `xml:"StartAfter,omitempty"`
	KeyCount              *int          `xml:"KeyCount,omitempty"`
	Contents              []listContent `xml:"Contents"`
	CommonPrefixes        []listPrefix  `xml:"CommonPrefixes"`
}

var errBadToken = &apiError{http.StatusBadRequest, "InvalidArgument", "The continuation token or marker is not valid.", nil}

// serveList answers ListObjects (V1) and ListObjectsV2 over the target.
func (s *Server) serveList(w *respWriter, r *http.Request, rc *reqCtx) {
	rc.outcome = outcomeHit
	q := r.URL.Query()
	v2 := q.Get("list-type") == "2"
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	maxKeys := 1000
	if mk := q.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 0 {
			writeError(w, r, rc, &apiError{http.StatusBadRequest, "InvalidArgument", "max-keys must be a non-negative integer.", err})
			return
		}
		maxKeys = min(n, 1000)
	}
	res := listResult{Name: rc.bucket, Prefix: prefix, Delimiter: delim, MaxKeys: maxKeys}
	var token []byte
	after := ""
	if v2 {
		res.ContinuationToken = q.Get("continuation-token")
		res.StartAfter = q.Get("start-after")
		after = res.StartAfter
		if t := res.ContinuationToken; t != "" {
			b, err := decodeToken(t)
			if err != nil {
				writeError(w, r, rc, errBadToken)
				return
			}
			token, after = b, ""
		}
	} else {
		m := q.Get("marker")
		res.Marker = &m
		if strings.HasPrefix(m, tokenPrefix) {
			b, err := decodeToken(m)
			if err != nil {
				writeError(w, r, rc, errBadToken)
				return
			}
			token = b
		} else {
			after = m
		}
	}
	if token == nil {
		token = blob.FirstPageToken
	}
	opts := &blob.ListOptions{Prefix: prefix, Delimiter: delim}
	count := 0
	for maxKeys > 0 {
		page, next, err := s.opts.Target.ListPage(r.Context(), token, maxKeys-count, opts)
		if err != nil {
			writeError(w, r, rc, err)
			return
		}
		for _, o := range page {
			if after != "" && o.Key <= after {
				continue
			}
			if o.IsDir {
				res.CommonPrefixes = append(res.CommonPrefixes, listPrefix{o.Key})
			} else {
				c := listContent{Key: o.Key, LastModified: o.ModTime.UTC().Format(time.RFC3339Nano), Size: o.Size, StorageClass: "STANDARD"}
				if len(o.MD5) > 0 {
					c.ETag = `"` + hex.EncodeToString(o.MD5) + `"`
				}
				res.Contents = append(res.Contents, c)
			}
			count++
		}
		token = next
		if len(next) == 0 || count >= maxKeys {
			break
		}
	}
	if len(token) > 0 {
		res.IsTruncated = true
		t := encodeToken(token)
		if v2 {
			res.NextContinuationToken = t
		} else {
			res.NextMarker = t
		}
	}
	if v2 {
		res.KeyCount = &count
	}
	out, err := xml.Marshal(res)
	if err != nil {
		writeError(w, r, rc, err)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", itoa(len(xml.Header)+len(out)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = io.WriteString(w, xml.Header)
		_, _ = w.Write(out)
	}
}

func encodeToken(b []byte) string { return tokenPrefix + base64.RawURLEncoding.EncodeToString(b) }

func decodeToken(s string) ([]byte, error) {
	if !strings.HasPrefix(s, tokenPrefix) {
		return nil, errors.New("foreign token")
	}
	return base64.RawURLEncoding.DecodeString(s[len(tokenPrefix):])
}

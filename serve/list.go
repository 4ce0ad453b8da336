package serve

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
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
	res, token, after, err := listStart(q, rc.bucket, v2)
	if err != nil {
		writeError(w, r, rc, err)
		return
	}
	count, token, err := s.listInto(r.Context(), &res, token, after)
	if err != nil {
		writeError(w, r, rc, err)
		return
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

// listStart reads a listing request's parameters: the result to fill, the
// page token to start from and the key to list after.
func listStart(q url.Values, bucket string, v2 bool) (res listResult, token []byte, after string, err error) {
	maxKeys := 1000
	if mk := q.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 0 {
			return res, nil, "", &apiError{http.StatusBadRequest, "InvalidArgument", "max-keys must be a non-negative integer.", err}
		}
		maxKeys = min(n, 1000)
	}
	res = listResult{Name: bucket, Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), MaxKeys: maxKeys}
	if v2 {
		res.ContinuationToken = q.Get("continuation-token")
		res.StartAfter = q.Get("start-after")
		after = res.StartAfter
		if t := res.ContinuationToken; t != "" {
			if token, err = decodeToken(t); err != nil {
				return res, nil, "", errBadToken
			}
			after = ""
		}
	} else {
		m := q.Get("marker")
		res.Marker = &m
		if !strings.HasPrefix(m, tokenPrefix) {
			after = m
		} else if token, err = decodeToken(m); err != nil {
			return res, nil, "", errBadToken
		}
	}
	if token == nil {
		token = blob.FirstPageToken
	}
	return res, token, after, nil
}

// listInto lists the target's pages from token into res, up to its
// MaxKeys entries after the key after, and returns how many it added and
// the token of the next page ("" when the listing is over).
func (s *Server) listInto(ctx context.Context, res *listResult, token []byte, after string) (int, []byte, error) {
	opts := &blob.ListOptions{Prefix: res.Prefix, Delimiter: res.Delimiter}
	count := 0
	for res.MaxKeys > 0 {
		page, next, err := s.opts.Target.ListPage(ctx, token, res.MaxKeys-count, opts)
		if err != nil {
			return 0, nil, err
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
		if len(next) == 0 || count >= res.MaxKeys {
			break
		}
	}
	return count, token, nil
}

func encodeToken(b []byte) string { return tokenPrefix + base64.RawURLEncoding.EncodeToString(b) }

func decodeToken(s string) ([]byte, error) {
	if !strings.HasPrefix(s, tokenPrefix) {
		return nil, errors.New("foreign token")
	}
	return base64.RawURLEncoding.DecodeString(s[len(tokenPrefix):])
}

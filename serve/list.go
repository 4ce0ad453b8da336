package serve

import (
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
)

// Listing answers ListObjects (V1) and ListObjectsV2 for S3 clients (rclone
// lists the parent of a file before it reads it). While a rule points at a
// listable origin (a bucket URL), the origin's keys are merged into the
// target's listing (see list_merge.go), so a client sees every object before
// it has been filled. The XML follows S3's (and MinIO's) ListBucketResult.

// listTimeFormat is the time format of LastModified in S3 listings.
const listTimeFormat = "2006-01-02T15:04:05.000Z"

type listOwner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// listOwnerOfServe is the owner V1 listings (and V2 with fetch-owner) name:
// serve reads anonymously and knows no account.
var listOwnerOfServe = &listOwner{ID: "ferry", DisplayName: "ferry"}

type listContent struct {
	Key          string     `xml:"Key"`
	LastModified string     `xml:"LastModified"`
	ETag         string     `xml:"ETag"`
	Size         int64      `xml:"Size"`
	Owner        *listOwner `xml:"Owner,omitempty"`
	StorageClass string     `xml:"StorageClass"`
}

type listPrefix struct {
	Prefix string `xml:"Prefix"`
}

// listResultV1 and listResultV2 keep the element order of S3's answers.
type listResultV1 struct {
	XMLName        xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string        `xml:"Name"`
	Prefix         string        `xml:"Prefix"`
	Marker         string        `xml:"Marker"`
	NextMarker     string        `xml:"NextMarker,omitempty"`
	MaxKeys        int           `xml:"MaxKeys"`
	Delimiter      string        `xml:"Delimiter,omitempty"`
	IsTruncated    bool          `xml:"IsTruncated"`
	Contents       []listContent `xml:"Contents"`
	CommonPrefixes []listPrefix  `xml:"CommonPrefixes"`
	EncodingType   string        `xml:"EncodingType,omitempty"`
}

type listResultV2 struct {
	XMLName               xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string        `xml:"Name"`
	Prefix                string        `xml:"Prefix"`
	StartAfter            string        `xml:"StartAfter,omitempty"`
	ContinuationToken     string        `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string        `xml:"NextContinuationToken,omitempty"`
	KeyCount              int           `xml:"KeyCount"`
	MaxKeys               int           `xml:"MaxKeys"`
	Delimiter             string        `xml:"Delimiter,omitempty"`
	IsTruncated           bool          `xml:"IsTruncated"`
	Contents              []listContent `xml:"Contents"`
	CommonPrefixes        []listPrefix  `xml:"CommonPrefixes"`
	EncodingType          string        `xml:"EncodingType,omitempty"`
}

// listQuery is a listing request's parameters.
type listQuery struct {
	v2         bool
	prefix     string
	delimiter  string
	maxKeys    int
	after      string // start-after (V2) or a marker that is a key (V1)
	token      string // continuation-token (V2) or a marker that is a serve token (V1)
	encodeURL  bool
	fetchOwner bool
	rawMarker  string // V1 marker as given
}

var (
	errBadToken    = &apiError{http.StatusBadRequest, "InvalidArgument", "The continuation token or marker is not valid.", nil}
	errBadMaxKeys  = &apiError{http.StatusBadRequest, "InvalidArgument", "max-keys must be a non-negative integer.", nil}
	errBadEncoding = &apiError{http.StatusBadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request: encoding-type must be url.", nil}
)

// parseListQuery reads and checks a listing request's query.
func parseListQuery(q url.Values) (listQuery, error) {
	lq := listQuery{v2: q.Get("list-type") == "2", prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: maxListPage}
	if mk := q.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 0 {
			return lq, errBadMaxKeys
		}
		lq.maxKeys = min(n, maxListPage)
	}
	switch et := q.Get("encoding-type"); {
	case et == "":
	case strings.EqualFold(et, "url"):
		lq.encodeURL = true
	default:
		return lq, errBadEncoding
	}
	if lq.v2 {
		lq.after, lq.token = q.Get("start-after"), q.Get("continuation-token")
		lq.fetchOwner = q.Get("fetch-owner") == "true"
		if q.Has("continuation-token") && lq.token == "" {
			return lq, errBadToken
		}
		return lq, nil
	}
	lq.rawMarker = q.Get("marker")
	if strings.HasPrefix(lq.rawMarker, tokenPrefix) {
		lq.token = lq.rawMarker
	} else {
		lq.after = lq.rawMarker
	}
	lq.fetchOwner = true
	return lq, nil
}

// serveList answers ListObjects (V1) and ListObjectsV2 for rc.bucket.
func (s *Server) serveList(w *respWriter, r *http.Request, rc *reqCtx) {
	rc.outcome = outcomeHit
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeError(w, r, rc, err)
		return
	}
	l, err := s.newLister(r, lq)
	if err != nil {
		writeError(w, r, rc, err)
		return
	}
	page, err := l.run(r.Context(), lq.maxKeys)
	if err != nil {
		writeError(w, r, rc, err)
		return
	}
	out, err := xml.Marshal(listBody(rc.bucket, lq, page))
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

// listBody builds the XML answer for one page of entries.
func listBody(bucket string, lq listQuery, p listPage) any {
	enc := func(s string) string { return s }
	encType := ""
	if lq.encodeURL {
		enc, encType = s3URLEncode, "url"
	}
	var contents []listContent
	var prefixes []listPrefix
	for _, o := range p.entries {
		if o.IsDir {
			prefixes = append(prefixes, listPrefix{enc(o.Key)})
			continue
		}
		c := listContent{Key: enc(o.Key), LastModified: o.ModTime.UTC().Format(listTimeFormat), ETag: listETag(o), Size: o.Size, StorageClass: listStorageClass(o)}
		if lq.fetchOwner {
			c.Owner = listOwnerOfServe
		}
		contents = append(contents, c)
	}
	if !lq.v2 {
		res := listResultV1{Name: bucket, Prefix: enc(lq.prefix), Marker: enc(lq.rawMarker), MaxKeys: lq.maxKeys,
			Delimiter: enc(lq.delimiter), IsTruncated: p.next != "", Contents: contents, CommonPrefixes: prefixes, EncodingType: encType}
		res.NextMarker = p.next
		return res
	}
	return listResultV2{Name: bucket, Prefix: enc(lq.prefix), StartAfter: enc(lq.after), ContinuationToken: lq.token,
		NextContinuationToken: p.next, KeyCount: len(p.entries), MaxKeys: lq.maxKeys, Delimiter: enc(lq.delimiter),
		IsTruncated: p.next != "", Contents: contents, CommonPrefixes: prefixes, EncodingType: encType}
}

// listETag is the object's ETag as its listing gave it (S3), else the quoted
// MD5 (other drivers), else GCS's etag of a composite object (the ETag its
// GET and HEAD give, see store/gcs.go), else "".
func listETag(o *blob.ListObject) string {
	var so types.Object
	if o.As(&so) && so.ETag != nil {
		return *so.ETag
	}
	if len(o.MD5) > 0 {
		return `"` + hex.EncodeToString(o.MD5) + `"`
	}
	var ga storage.ObjectAttrs
	if o.As(&ga) && ga.Etag != "" {
		return `"` + strings.Trim(ga.Etag, `"`) + `"`
	}
	return ""
}

// listStorageClass is the object's storage class as its listing gave it, else STANDARD.
func listStorageClass(o *blob.ListObject) string {
	var so types.Object
	if o.As(&so) && so.StorageClass != "" {
		return string(so.StorageClass)
	}
	return "STANDARD"
}

// s3URLEncode encodes a name for encoding-type=url as S3 and MinIO do:
// query escaping (a space is "+"), except that "/" and "*" stay as they are.
func s3URLEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			b.WriteByte('+')
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', strings.IndexByte("-_./*", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/encoding/protowire"
)

// Google Cloud Storage buckets (gs://bucket[/prefix]) are gocloud's gcsblob
// driver on ferry's HTTP client (gcsTransport). Two things differ from
// gocloud's default opener:
//
//   - every media read gets the bytes as stored: an object stored with
//     Content-Encoding: gzip is neither unzipped by GCS (decompressive
//     transcoding) nor by Go's transport, so a copy and a hit carry the
//     bytes, size and MD5 the object's attributes describe;
//   - a GET hit is one GET (the storage client's XML-API read), its Meta
//     taken from that answer's headers (gcsGet), not an attributes request
//     before the read.
//
// The ETag ferry gives a GCS object is the quoted hex MD5 when the object
// has one (every object but a composite one), as S3 clients expect of a
// single-part object and as the XML API sends it; a composite object gets
// the JSON API's etag, which is the base64 of the object's generation and
// metageneration (gcsGenerationETag), so a HEAD (JSON attributes), a GET
// (XML headers) and a listing give one value.

// openGCS opens a gs:// URL. Credentials are Google's default credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, the metadata server);
// anonymous=true (or access_id=-) reads a public bucket without any, and
// with STORAGE_EMULATOR_HOST set (an emulator) none are used. URLs that ask
// for the gRPC API or another universe (grpc=, zonal=, universe_domain=)
// are opened by gocloud's default opener: reads there are an attributes
// request and then the range, as gocloud does them.
func openGCS(ctx context.Context, u *url.URL) (*Bucket, error) {
	prefix := strings.TrimPrefix(u.Path, "/")
	u.Path = ""
	q := u.Query()
	if q.Has("grpc") || q.Has("zonal") || q.Has("universe_domain") {
		b, err := blob.OpenBucket(ctx, u.String())
		if err != nil {
			return nil, err
		}
		return Wrap(scope(b, prefix)), nil
	}
	anonymous := false
	for k, v := range q {
		switch {
		case k == "anonymous" && len(v) == 1:
			a, err := strconv.ParseBool(v[0])
			if err != nil {
				return nil, fmt.Errorf("invalid value %q for query parameter \"anonymous\" (want true or false)", v[0])
			}
			anonymous = a
		case k == "access_id" && len(v) == 1 && v[0] == "-":
			anonymous = true // gocloud's other spelling
		default:
			return nil, fmt.Errorf("invalid query parameter %q: gs:// URLs take anonymous=true (and grpc=, zonal=, universe_domain=)", k)
		}
	}
	tr := gcsTransport{base: httpClient().Transport}
	httpc := &http.Client{Transport: tr}
	if !anonymous && os.Getenv("STORAGE_EMULATOR_HOST") == "" {
		creds, err := gcp.DefaultCredentials(ctx)
		if err != nil {
			return nil, fmt.Errorf("no Google credentials (%v): set GOOGLE_APPLICATION_CREDENTIALS, or add anonymous=true to the URL of a public bucket", err)
		}
		hc, err := gcp.NewHTTPClient(tr, creds.TokenSource)
		if err != nil {
			return nil, err
		}
		httpc = &hc.Client
	}
	// The storage client on ferry's HTTP client, made here: gocloud's
	// opener would put an emulator's on http.DefaultClient.
	c, err := storage.NewClient(ctx, option.WithHTTPClient(httpc))
	if err != nil {
		return nil, err
	}
	b, err := gcsblob.OpenBucket(ctx, nil, u.Host, &gcsblob.Options{Client: c})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return &Bucket{Bucket: scope(b, prefix), gcs: true}, nil
}

// gcsTransport asks GCS for the stored bytes of every media read
// (Accept-Encoding: gzip, which the storage client sets only when told to
// read compressed; ferry's transport never unzips what it did not ask to
// be zipped) and tells the gcsAnswer in the request's context, if any,
// what came back: the headers of a read's answer, and whether a 404 said
// the bucket itself does not exist (the storage client turns every 404
// into "object doesn't exist"). JSON API requests are left as they are:
// their answers must come back plain.
type gcsTransport struct{ base http.RoundTripper }

type gcsAnswerKey struct{}

// gcsAnswer receives the headers of the first successful answer to a
// request, or the news that the bucket is gone.
type gcsAnswer struct {
	status int
	header http.Header
	gone   bool
}

func (t gcsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.Header.Get("Accept-Encoding") == "" && gcsMediaRead(req.URL) {
		req = req.Clone(req.Context())
		req.Header.Set("Accept-Encoding", "gzip")
	}
	res, err := t.base.RoundTrip(req)
	a, _ := req.Context().Value(gcsAnswerKey{}).(*gcsAnswer)
	switch {
	case err != nil || a == nil:
	case res.StatusCode/100 == 2 && a.header == nil:
		a.status, a.header = res.StatusCode, res.Header
	case res.StatusCode == http.StatusNotFound:
		// An error body is small; it is read here and handed on unchanged.
		body, rerr := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		_ = res.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		a.gone = gcsBucketGone(body)
	}
	return res, err
}

// gcsBucketGone reports whether a 404's body says the bucket does not
// exist: the XML API's NoSuchBucket, the JSON API's message.
func gcsBucketGone(body []byte) bool {
	return bytes.Contains(body, []byte("<Code>NoSuchBucket</Code>")) || bytes.Contains(body, []byte("The specified bucket does not exist"))
}

// gcsContext returns ctx with a fresh gcsAnswer for the transport to fill.
func gcsContext(ctx context.Context) (context.Context, *gcsAnswer) {
	a := &gcsAnswer{}
	return context.WithValue(ctx, gcsAnswerKey{}, a), a
}

// gcsGoneError is a read's "not found" that was the bucket's: IsNotFound
// and IsNoSuchBucket are both true of it.
type gcsGoneError struct{ err error }

func (e *gcsGoneError) Error() string { return "the bucket does not exist: " + e.err.Error() }
func (e *gcsGoneError) Unwrap() error { return e.err }

// gcsReadError is err of a request whose answer a received, marked when
// the bucket is gone.
func gcsReadError(err error, a *gcsAnswer) error {
	if a.gone && IsNotFound(err) {
		return &gcsGoneError{err}
	}
	return err
}

// gcsMediaRead reports whether u reads an object's bytes: an XML-API GET
// (/bucket/object) or a JSON-API media download (alt=media), not a JSON-API
// metadata or listing request (/storage/v1/...).
func gcsMediaRead(u *url.URL) bool {
	return !strings.HasPrefix(u.Path, "/storage/v1/") || u.Query().Get("alt") == "media"
}

// gcsGet is Get on a GCS bucket opened by openGCS: one GET for rng (the
// whole object for ""), its Meta taken from the answer's headers. gocloud
// takes no suffix range (bytes=-N): for one, the Meta comes from the
// attributes and Body is nil, as for other buckets.
func (b *Bucket) gcsGet(ctx context.Context, key, rng string) (*Object, error) {
	off, length, ok := azureRange(rng)
	if !ok {
		return b.attributesObject(ctx, key)
	}
	rctx, ans := gcsContext(ctx)
	r, err := b.NewRangeReader(rctx, key, off, length, nil)
	if err != nil {
		return nil, gcsReadError(err, ans)
	}
	if ans.header == nil {
		_ = r.Close()
		return nil, fmt.Errorf("store: gs get %q: no answer seen by the transport", key)
	}
	o := &Object{Body: r, Length: -1}
	size := int64(-1)
	if cl, err := strconv.ParseInt(ans.header.Get("Content-Length"), 10, 64); err == nil {
		o.Length, size = cl, cl
	}
	if ans.status == http.StatusPartialContent {
		cr := ans.header.Get("Content-Range")
		total, ok1 := rangeSize(cr)
		start, ok2 := rangeStart(cr)
		if !ok1 || !ok2 {
			_ = r.Close()
			return nil, fmt.Errorf("store: gs get %q: bad Content-Range %q", key, cr)
		}
		size, o.Offset = total, start
	}
	if enc := ans.header.Get("X-Goog-Stored-Content-Encoding"); enc == "gzip" && ans.header.Get("Content-Encoding") != "gzip" {
		_ = r.Close()
		return nil, fmt.Errorf("store: gs get %q: GCS sent the gzip-stored object unzipped", key)
	}
	o.Meta = gcsHeaderMeta(ans.header, size)
	if gcsHeaderUnsure(o.Meta.Metadata) {
		b.gcsExactMetadata(ctx, key, ans.header.Get("X-Goog-Generation"), &o.Meta)
	}
	return o, nil
}

// gcsHeaderUnsure reports whether user metadata read from XML-API headers
// may not be what is stored: a value with bytes outside printable ASCII,
// or one that looks encoded (percent or RFC 2047 escapes), which a header
// may carry differently from the JSON API's value (unchecked here: the
// emulator sends values as stored).
func gcsHeaderUnsure(md map[string]string) bool {
	for _, v := range md {
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c >= 0x7f || c == '%' || (c == '=' && i+1 < len(v) && v[i+1] == '?') {
				return true
			}
		}
	}
	return false
}

// gcsExactMetadata replaces m's user metadata with the object's attributes'
// (one more request), when they are of the generation the read answered
// (an object replaced in between keeps what the headers said).
func (b *Bucket) gcsExactMetadata(ctx context.Context, key, generation string, m *Meta) {
	a, err := b.Attributes(ctx, key)
	var oa storage.ObjectAttrs
	if err != nil || !a.As(&oa) || strconv.FormatInt(oa.Generation, 10) != generation {
		return
	}
	m.Metadata = gcsAttributesMeta(a).Metadata
	m.Expires = m.Metadata[MetaExpires]
}

// gcsHeaderMeta maps the headers of an XML-API read as gcsAttributesMeta
// maps the object's attributes; size is the whole object's.
func gcsHeaderMeta(h http.Header, size int64) Meta {
	m := MetaFromHeader(h, size) // the content headers and Last-Modified
	m.MD5 = gcsHashMD5(h.Values("X-Goog-Hash"))
	m.Metadata = nil
	for k, v := range h {
		if name, ok := strings.CutPrefix(k, "X-Goog-Meta-"); ok && len(v) > 0 {
			if m.Metadata == nil {
				m.Metadata = map[string]string{}
			}
			m.Metadata[strings.ToLower(name)] = v[0]
		}
	}
	m.Expires = m.Metadata[MetaExpires] // stored as metadata, as on every bucket
	gen, err1 := strconv.ParseInt(h.Get("X-Goog-Generation"), 10, 64)
	metagen, err2 := strconv.ParseInt(h.Get("X-Goog-Metageneration"), 10, 64)
	switch {
	case len(m.MD5) > 0:
		m.ETag = `"` + hex.EncodeToString(m.MD5) + `"`
	case err1 == nil && err2 == nil:
		m.ETag = gcsGenerationETag(gen, metagen)
	default:
		m.ETag = h.Get("ETag")
	}
	return m
}

// gcsAttributesMeta is MetaFromAttributes for a GCS object: the ETag is the
// quoted hex MD5 when the object has one (see the top of this file).
func gcsAttributesMeta(a *blob.Attributes) Meta {
	m := MetaFromAttributes(a)
	if len(a.MD5) > 0 {
		m.ETag = `"` + hex.EncodeToString(a.MD5) + `"`
	}
	return m
}

// gcsGenerationETag is the JSON API's etag of an object, quoted: the
// base64 of a protobuf message holding its generation (field 1) and
// metageneration (field 2). Checked against etags GCS gave real objects
// (TestGCSGenerationETag).
func gcsGenerationETag(generation, metageneration int64) string {
	var p []byte
	p = protowire.AppendTag(p, 1, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(generation))
	p = protowire.AppendTag(p, 2, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(metageneration))
	return `"` + base64.StdEncoding.EncodeToString(p) + `"`
}

// gcsHashMD5 returns the MD5 of an x-goog-hash answer ("crc32c=...,
// md5=...", possibly over several header lines), nil when none.
func gcsHashMD5(values []string) []byte {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(part), "md5="); ok {
				if sum, err := base64.StdEncoding.DecodeString(s); err == nil && len(sum) == 16 {
					return sum
				}
			}
		}
	}
	return nil
}

// gcsError returns the GCS answer err carries, nil when there is none.
func gcsError(err error) *googleapi.Error {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge
	}
	return nil
}

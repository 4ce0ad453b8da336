package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"gocloud.dev/blob"
)

// DirectPutMax is the size up to which a direct PUT is always worth it;
// Put takes bigger bodies too (S3 allows 5 GiB), but they are held in
// memory, so callers bound how many are in flight.
const DirectPutMax = 1 << 20

// A DirectPutter stores small objects in an S3 bucket with one signed HTTP
// PUT each, and reads objects with one signed GET or HEAD (directget.go),
// without the AWS SDK's per-request middleware. For a 4 KiB object
// the SDK's PutObject costs about 300 µs of client CPU; this costs about a
// third of that, which is most of what a bulk copy of small files spends.
//
// Objects are stored exactly as gocloud's s3blob would store them (same key,
// same headers), so every reader sees no difference. Keys and metadata that
// s3blob would escape are refused by Eligible; callers fall back to the
// blob.Bucket for those. Metadata is escaped as s3blob escapes it.
type DirectPutter struct {
	client    *http.Client
	base      *url.URL // scheme and host of the endpoint, plus any path
	bucket    string
	prefix    string // the blob.PrefixedBucket prefix, "" or ending in "/"
	pathStyle bool
	region    string
	creds     aws.CredentialsProvider // nil: anonymous, requests are not signed
	signer    *v4.Signer
	anonReads bool        // GET and HEAD go unsigned first (anonymous_reads=true; see read)
	fast      *fastClient // GET, HEAD and PUT through fasthttp (fastclient.go); nil: through client
}

func newDirect(cfg aws.Config, endpoint, bucket, prefix string, pathStyle bool) (*DirectPutter, error) {
	base, err := url.Parse(endpoint)
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("endpoint %q is not an http(s) URL", Redact(endpoint))
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	hc, ok := cfg.HTTPClient.(*http.Client)
	if !ok {
		return nil, fmt.Errorf("direct put: unexpected HTTP client %T", cfg.HTTPClient)
	}
	// Never follow a redirect: it would send the object (and a signed
	// request) wherever the Location points. A 3xx is an error.
	client := *hc
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d := &DirectPutter{
		client:    &client,
		base:      base,
		bucket:    bucket,
		prefix:    prefix,
		pathStyle: pathStyle,
		region:    cfg.Region,
		creds:     cfg.Credentials,
		signer:    v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }),
	}
	d.fast = newFastClient(hc.Transport, base.Scheme, d.host())
	if d.creds == nil || aws.IsCredentialsProvider(d.creds, aws.AnonymousCredentials{}) {
		d.creds = nil
	}
	return d, nil
}

// Eligible reports whether key and the options o can be stored by Put with
// the same result as through the blob.Bucket: gocloud's s3blob escapes some
// keys (control characters, "../", non-UTF-8, "__0x" look-alikes); those, and
// writes with ContentMD5 or BeforeWrite, go through the bucket.
func (d *DirectPutter) Eligible(key string, o *blob.WriterOptions) bool {
	if escapedByDriver(d.prefix + key) {
		return false
	}
	if o == nil {
		return true
	}
	if len(o.ContentMD5) > 0 || o.BeforeWrite != nil {
		return false
	}
	for mk := range o.Metadata {
		if mk == "" || !utf8.ValidString(mk) || strings.Contains(mk, "__0x") {
			return false
		}
	}
	return true
}

// metaName escapes a metadata name as s3blob does: URL path escaping, then
// '@', ':' and '=' as __0xHEX__ (names containing "__0x" are not Eligible,
// which spares the look-alike escaping).
func metaName(k string) string {
	k = url.PathEscape(strings.ToLower(k)) // blob.Writer lowercases names
	if !strings.ContainsAny(k, "@:=") {
		return k
	}
	return metaNameEscaper.Replace(k)
}

var metaNameEscaper = strings.NewReplacer("@", "__0x40__", ":", "__0x3a__", "=", "__0x3d__")

// Put stores body under key with the options o (content headers, metadata,
// IfNotExist) in one PUT. Over plain HTTP the payload's SHA-256 is signed,
// so the server refuses a body that changed in transit; over HTTPS, TLS
// protects it. A create-only write that finds the key present returns an
// error for which IsExists is true.
func (d *DirectPutter) Put(ctx context.Context, key string, body []byte, o *blob.WriterOptions) error {
	if o == nil {
		o = &blob.WriterOptions{}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.objectURL(d.prefix+key), bytes.NewReader(body))
	if err != nil {
		return err
	}
	h := req.Header
	// Content-Type as blob.Writer sets it: sniffed when not given,
	// normalized when given, and what s3blob ends up storing when empty.
	ct := o.ContentType
	switch {
	case ct == "" && !o.DisableContentTypeDetection:
		ct = http.DetectContentType(body)
	case ct == "":
		ct = "application/octet-stream"
	default:
		t, p, err := mime.ParseMediaType(ct)
		if err != nil {
			return fmt.Errorf("content type %q: %w", ct, err)
		}
		ct = mime.FormatMediaType(t, p)
	}
	h.Set("Content-Type", ct)
	setIf(h, "Cache-Control", o.CacheControl)
	setIf(h, "Content-Disposition", o.ContentDisposition)
	setIf(h, "Content-Encoding", o.ContentEncoding)
	setIf(h, "Content-Language", o.ContentLanguage)
	MetadataHeader(h, o.Metadata)
	if o.IfNotExist {
		h.Set("If-None-Match", "*")
	}
	if err := d.sign(ctx, req, body); err != nil {
		return &S3Error{Op: "PUT", Key: key, Err: err}
	}
	resp, err := d.do(req, body)
	if err != nil {
		return &S3Error{Op: "PUT", Key: key, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return responseError("PUT", key, resp)
}

// do sends req (a PUT of body, or a GET or HEAD with body nil) through
// fasthttp's client, or through client when fast_client=false.
func (d *DirectPutter) do(req *http.Request, body []byte) (*http.Response, error) {
	if d.fast != nil {
		return d.fast.roundTrip(req, body)
	}
	return d.client.Do(req)
}

func setIf(h http.Header, name, v string) {
	if v != "" {
		h.Set(name, v)
	}
}

// host is the host (and port) the bucket's requests go to: the endpoint's,
// or bucket.endpoint in virtual-hosted style.
func (d *DirectPutter) host() string {
	if d.pathStyle {
		return d.base.Host
	}
	return d.bucket + "." + d.base.Host
}

// objectURL is the URL of key (already prefixed) in path or
// virtual-hosted style, escaped as the SDK escapes keys.
func (d *DirectPutter) objectURL(key string) string {
	u := *d.base
	u.Host = d.host()
	p := strings.TrimSuffix(u.Path, "/")
	if d.pathStyle {
		p += "/" + d.bucket
	}
	u.Path = p + "/" + key
	u.RawPath = httpbinding.EscapePath(p, false) + "/" + httpbinding.EscapePath(key, false)
	return u.String()
}

func (d *DirectPutter) sign(ctx context.Context, req *http.Request, body []byte) error {
	if d.creds == nil {
		return nil
	}
	creds, err := d.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	// As the AWS SDK does: over TLS the payload is not hashed (TLS already
	// protects it); over plain HTTP its SHA-256 is signed, so the server
	// refuses a body that changed on the way.
	hash := "UNSIGNED-PAYLOAD"
	if req.URL.Scheme != "https" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}
	return d.signer.SignHTTP(ctx, creds, req, hash, "s3", d.region, time.Now().UTC())
}

// S3Error is a failed request of a DirectPutter: the HTTP status and the S3
// error code the server answered, or the transport error.
type S3Error struct {
	Op, Key   string
	Status    int    // 0 when no response arrived
	Code      string // S3 error code, e.g. AccessDenied
	Message   string
	RequestID string
	Err       error // transport error, when Status is 0
}

func (e *S3Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("s3 %s %q: %v", e.Op, e.Key, e.Err)
	}
	s := fmt.Sprintf("s3 %s %q: %d %s", e.Op, e.Key, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

func (e *S3Error) Unwrap() error { return e.Err }

// HTTPStatusCode is the status the server answered (0 if none), the same
// method the AWS SDK's errors have, so retry logic treats both alike.
func (e *S3Error) HTTPStatusCode() int { return e.Status }

// ErrorCode is the S3 error code, like smithy.APIError's.
func (e *S3Error) ErrorCode() string { return e.Code }

func responseError(op, key string, resp *http.Response) error {
	e := &S3Error{Op: op, Key: key, Status: resp.StatusCode, RequestID: resp.Header.Get("X-Amz-Request-Id")}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &x) == nil {
		e.Code, e.Message = x.Code, x.Message
	}
	if e.Code == "" && resp.StatusCode == http.StatusPreconditionFailed {
		e.Code = "PreconditionFailed"
	}
	return e
}

func s3ErrorStatus(err error) (*S3Error, bool) {
	var e *S3Error
	if errors.As(err, &e) && e.Status != 0 {
		return e, true
	}
	return nil, false
}

// Package store opens targets and origins by URL on gocloud.dev/blob and
// classifies their errors.
//
// Supported URLs:
//
//	./dir, /abs/dir, file://./dir, file:///abs/dir   local directory (fileblob)
//	s3://bucket[/prefix]?endpoint=URL&region=R&anonymous=true
//	mem://[name]                                     in-memory (tests)
//	gs://bucket[/prefix], azblob://container[/prefix]
//
// A path after the bucket name scopes the bucket to that prefix.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	gcaws "gocloud.dev/aws"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob" // registers gs://
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// Options changes how Open treats the URL.
type Options struct {
	// Create makes a missing local directory (the target); origins must exist.
	Create bool
	// SkipCheck skips the access check (one list call) done at open time.
	SkipCheck bool
}

// Bucket is an opened bucket together with what ferry knows about how it
// stores objects, so that no caller has to guess it again from the URL: the
// direct PUT path of an S3 endpoint, and the directory of a local bucket
// (whose objects and fileblob sidecars serve reads straight from disk). Open
// and OpenOrigin return one; Wrap turns any *blob.Bucket into one without
// those paths. The embedded *blob.Bucket is the bucket itself; Close closes it.
type Bucket struct {
	*blob.Bucket
	direct   *DirectPutter // small objects into S3 with one signed PUT; nil: none
	lister   *Lister       // S3 listing with one signed request a page; nil: none
	dir      string        // a local directory's absolute path; "" for other buckets
	sidecars sidecarCache  // decoded fileblob sidecars of recent file reads
	bare     bareDirs      // directories listed without sidecars (file.go)
	s3       bool          // gocloud's s3blob: reads answer with a GetObjectOutput
	azure    bool          // gocloud's azureblob: reads answer with a DownloadStreamResponse
	gcs      bool          // gcsblob on ferry's transport (gcs.go): reads answer with their headers
	s3Name   string        // an S3 bucket's name, for the calls gocloud does not make (uploads.go)
	s3Prefix string        // an S3 bucket's blob.PrefixedBucket prefix, "" or ending in "/"
}

// Wrap returns b as a Bucket without a direct PUT path or a local directory
// (for buckets opened elsewhere, e.g. memblob in tests).
func Wrap(b *blob.Bucket) *Bucket { return &Bucket{Bucket: b} }

// Direct returns the bucket's direct PUT path, or nil when it has none: it
// was not opened from an s3:// URL with an endpoint= (AWS itself, other
// schemes), or the URL says direct_put=false.
func (b *Bucket) Direct() *DirectPutter { return b.direct }

// Lister returns the bucket's lean ListObjectsV2 path (list.go), or nil
// when it has none: it was not opened from an s3:// URL with an endpoint=,
// or the URL says direct_list=false. It lists what ListPage lists.
func (b *Bucket) Lister() *Lister { return b.lister }

// Dir returns the absolute directory of a local bucket, "" for others.
func (b *Bucket) Dir() string { return b.dir }

// Open opens the bucket named by rawURL for a target (created when it is a
// local directory) and checks that it is reachable with one cheap call.
func Open(ctx context.Context, rawURL string) (*Bucket, error) {
	return OpenWith(ctx, rawURL, Options{Create: true})
}

// OpenOrigin opens a listable origin; a local directory must already exist.
func OpenOrigin(ctx context.Context, rawURL string) (*Bucket, error) {
	return OpenWith(ctx, rawURL, Options{})
}

// OpenWith opens rawURL with explicit options. Errors name the URL without
// secrets and say what to check.
func OpenWith(ctx context.Context, rawURL string, o Options) (*Bucket, error) {
	b, err := open(ctx, rawURL, o)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Redact(rawURL), err)
	}
	if o.SkipCheck {
		return b, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, _, err := b.ListPage(cctx, blob.FirstPageToken, 1, nil); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open %s: %s", Redact(rawURL), Explain(err))
	}
	return b, nil
}

func open(ctx context.Context, rawURL string, o Options) (*Bucket, error) {
	if rawURL == "" {
		return nil, errors.New("empty URL")
	}
	if !strings.Contains(rawURL, "://") {
		return openDir(rawURL, o)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.RawQuery != "" {
			return nil, fmt.Errorf("file URLs take no query parameters (got %q)", u.RawQuery)
		}
		p := u.Host + u.Path // file://./dir parses with Host "."
		if p == "" {
			return nil, errors.New("file URL has no path")
		}
		return openDir(filepath.FromSlash(p), o)
	case "mem":
		return Wrap(memblob.OpenBucket(nil)), nil
	case "s3":
		return openS3(ctx, u)
	case "azblob":
		return openAzure(ctx, u)
	case "gs":
		return openGCS(ctx, u)
	default:
		return nil, fmt.Errorf("unsupported scheme %q (use a path, file://, s3://, gs://, azblob:// or mem://)", u.Scheme)
	}
}

func scope(b *blob.Bucket, prefix string) *blob.Bucket {
	if prefix == "" {
		return b
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return blob.PrefixedBucket(b, prefix)
}

func openDir(dir string, o Options) (*Bucket, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// fileblob's walk does not follow a symlinked root: it would list
	// nothing at all.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	st, err := os.Stat(abs)
	switch {
	case err == nil && !st.IsDir():
		return nil, fmt.Errorf("%s is not a directory", abs)
	case os.IsNotExist(err) && o.Create:
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
	case os.IsNotExist(err):
		return nil, fmt.Errorf("directory %s does not exist", abs)
	case err != nil:
		return nil, err
	}
	// fileblob writes a temp file and renames it into place, so nothing partial
	// is ever visible. The temp file lives in os.TempDir unless that is on
	// another file system (rename would fail); then it lives next to the object.
	b, err := fileblob.OpenBucket(abs, &fileblob.Options{NoTempDir: !sameFS(abs), Metadata: fileblob.MetadataInSidecar})
	if err != nil {
		return nil, err
	}
	return &Bucket{Bucket: b, dir: abs}, nil
}

// sameFS reports whether a file in os.TempDir can be renamed into dir.
func sameFS(dir string) bool {
	f, err := os.CreateTemp("", "ferry-probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	_ = f.Close()
	dst := filepath.Join(dir, filepath.Base(name))
	err = os.Rename(name, dst)
	_ = os.Remove(name)
	_ = os.Remove(dst)
	return err == nil
}

// S3 query parameters understood by ferry in addition to gocloud's own.
const (
	paramPathStyle  = "use_path_style"
	paramDisableTLS = "disable_https"
	paramDirectPut  = "direct_put"
	paramDirectList = "direct_list"
	paramAnonReads  = "anonymous_reads"
	paramFastClient = "fast_client"
)

func openS3(ctx context.Context, u *url.URL) (*Bucket, error) {
	bucketName := u.Host
	if bucketName == "" {
		return nil, errors.New("s3 URL has no bucket name (s3://BUCKET/prefix)")
	}
	q := u.Query()
	pathStyle := true // what MinIO, JD Cloud OSS and most S3-compatible servers accept
	if v := q.Get(paramPathStyle); v != "" {
		pathStyle = v == "true" || v == "1"
	} else if q.Get("endpoint") == "" {
		pathStyle = false // AWS itself: virtual-hosted style
	}
	directPut, err := boolParam(q, paramDirectPut, true)
	if err != nil {
		return nil, err
	}
	directList, err := boolParam(q, paramDirectList, true)
	if err != nil {
		return nil, err
	}
	anonReads, err := boolParam(q, paramAnonReads, false)
	if err != nil {
		return nil, err
	}
	fastClient, err := boolParam(q, paramFastClient, true)
	if err != nil {
		return nil, err
	}
	q.Del(paramPathStyle)
	q.Del(paramDisableTLS)
	q.Del(paramDirectPut)
	q.Del(paramDirectList)
	q.Del(paramAnonReads)
	q.Del(paramFastClient)
	if q.Get("region") == "" && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		q.Set("region", "us-east-1")
	}
	// Checksums only when required: third-party S3 servers reject the newer
	// default x-amz-checksum-* trailers.
	if q.Get("request_checksum_calculation") == "" {
		q.Set("request_checksum_calculation", "when_required")
	}
	if q.Get("response_checksum_validation") == "" {
		q.Set("response_checksum_validation", "when_required")
	}
	endpoint := q.Get("endpoint")
	if endpoint != "" && !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
		q.Set("endpoint", endpoint)
	}
	cfg, err := gcaws.V2ConfigFromURLParams(ctx, q)
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient = httpClient()
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// One retry layer: scan's --retries (with its backoff) retries a
		// failed key; the SDK's own retryer (3 attempts by default) under it
		// multiplied every transient error. serve answers a target's 503 as
		// 503 SlowDown, for the client to retry.
		o.Retryer = aws.NopRetryer{}
		o.UsePathStyle = pathStyle
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	b, err := s3blob.OpenBucket(ctx, client, bucketName, &s3blob.Options{
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	sb := &Bucket{Bucket: scope(b, prefix), s3: true, s3Name: bucketName, s3Prefix: prefix}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		sb.s3Prefix += "/" // as scope adds it
	}
	if anonReads && (endpoint == "" || !directPut) {
		return nil, fmt.Errorf("%s=true needs an endpoint and the direct reads (direct_put=true): the SDK's reads are always signed", paramAnonReads)
	}
	if (directPut || directList) && endpoint != "" {
		d, err := newDirect(cfg, endpoint, bucketName, prefix, pathStyle)
		if err != nil {
			return nil, err
		}
		d.anonReads = anonReads
		if !fastClient {
			d.fast = nil
		}
		if directPut {
			sb.direct = d
		}
		if directList {
			sb.lister = newLister(d)
		}
	}
	return sb, nil
}

// boolParam reads a true/false query parameter, def when it is absent or
// empty.
func boolParam(q url.Values, name string, def bool) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("invalid %s=%q (use true or false)", name, v)
	}
	return b, nil
}

// httpClient is tuned for many transfers in flight to one endpoint. Idle
// connections are dropped after 15 s, before servers drop them (MinIO after
// 30 s, other S3 services sooner): a request sent on a connection the server
// is closing fails with EOF, and Go's transport sends only GET and HEAD
// again, while S3's writes are POSTs and PUTs and the SDK's retryer is off
// (one retry layer: scan's --retries). The 32 KiB write buffer (Go's default
// is 4 KiB) sends a small PUT's headers and body in one write, one packet on
// loopback, instead of two: less work per object for the client and the
// server alike (TestSmallPutIsOneWrite).
func httpClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       15 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       32 << 10,
	}
	return &http.Client{Transport: tr}
}

// IsNotFound reports whether err means the object or bucket does not exist
// (a 404 of S3, gocloud's NotFound, or a file that is not there).
func IsNotFound(err error) bool {
	if e, ok := s3ErrorStatus(err); ok {
		return e.Status == http.StatusNotFound
	}
	return err != nil && (gcerrors.Code(err) == gcerrors.NotFound || errors.Is(err, fs.ErrNotExist))
}

// IsTemporary reports whether retrying what failed with err may help: a
// 5xx, 429 or 408 answer, a timeout, a reset or refused connection, a
// truncated body. A cancelled context, a 4xx answer, a missing object and
// bad credentials are not temporary.
func IsTemporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var sc interface{ HTTPStatusCode() int }
	if errors.As(err, &sc) {
		c := sc.HTTPStatusCode()
		if c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout {
			return true
		}
		if c >= 400 {
			return false
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.ResourceExhausted, gcerrors.DeadlineExceeded, gcerrors.Internal:
		return true
	case gcerrors.NotFound, gcerrors.PermissionDenied, gcerrors.FailedPrecondition, gcerrors.InvalidArgument, gcerrors.AlreadyExists, gcerrors.Unimplemented:
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded)
}

// IsInvalid reports whether err is a target refusing a request as invalid
// (HTTP 400, gocloud's InvalidArgument), as MinIO refuses a key with "//".
func IsInvalid(err error) bool {
	var sc interface{ HTTPStatusCode() int }
	if errors.As(err, &sc) && sc.HTTPStatusCode() == http.StatusBadRequest {
		return true
	}
	return err != nil && gcerrors.Code(err) == gcerrors.InvalidArgument
}

// IsExists reports whether err is a create-only write that lost because the
// object already exists.
func IsExists(err error) bool {
	if e, ok := s3ErrorStatus(err); ok {
		return e.Status == http.StatusPreconditionFailed
	}
	return err != nil && gcerrors.Code(err) == gcerrors.FailedPrecondition
}

// IsPermission reports whether err means bad or missing credentials.
func IsPermission(err error) bool {
	if e, ok := s3ErrorStatus(err); ok {
		return e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized
	}
	return err != nil && gcerrors.Code(err) == gcerrors.PermissionDenied
}

// IsSlowDown reports whether err is the target asking the client to slow
// down or retry later (HTTP 503 or 429, S3 code SlowDown).
func IsSlowDown(err error) bool {
	var sc interface{ HTTPStatusCode() int }
	if errors.As(err, &sc) {
		if c := sc.HTTPStatusCode(); c == http.StatusServiceUnavailable || c == http.StatusTooManyRequests {
			return true
		}
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "SlowDown"
}

// Explain turns an access-check error into one line that says what to check.
func Explain(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
			return "bad credentials: " + ae.ErrorCode() + " (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
		}
	}
	if e, ok := s3ErrorStatus(err); ok {
		switch {
		case e.Code == "RequestTimeTooSkewed":
			return "this machine's clock is too far off the server's (RequestTimeTooSkewed): sync it (NTP)"
		case e.Code == "InvalidAccessKeyId" || e.Code == "SignatureDoesNotMatch" || e.Code == "InvalidToken" || e.Code == "ExpiredToken":
			return "bad credentials: " + e.Code + " (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
		case e.Status == http.StatusNotFound && e.Code == "NoSuchBucket":
			return "bucket not found (check the bucket name and endpoint)"
		case e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized:
			return "access denied (check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE): " + e.Code
		}
		return e.Error()
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return "bucket not found (check the bucket name and endpoint)"
	case gcerrors.PermissionDenied:
		return "access denied (check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
	case gcerrors.DeadlineExceeded:
		return "timed out (check the endpoint address)"
	}
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) || errors.Is(err, syscall.ECONNREFUSED) {
		return "cannot reach the endpoint (check endpoint=...): " + lastLine(err)
	}
	return lastLine(err)
}

func lastLine(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 200 {
		return strings.TrimSpace(s[i+2:])
	}
	return s
}

// Redact removes secrets from a URL so it can be printed: its user info, the
// user info of URLs in its query values (endpoint=http://user:pass@host),
// and query values that name credentials (secrets, tokens, passwords,
// signatures, access keys and access key ids).
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return rawURL
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	q := u.Query()
	changed := false
	for k, vs := range q {
		for i, v := range vs {
			nv := v
			if credentialParam(k) {
				nv = "REDACTED"
			} else if inner, err := url.Parse(v); err == nil && inner.User != nil {
				inner.User = url.User("REDACTED")
				nv = inner.String()
			}
			if nv != v {
				vs[i], changed = nv, true
			}
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// credentialParam reports whether a query parameter's name says it holds a
// credential.
func credentialParam(name string) bool {
	n := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(name))
	for _, w := range []string{"secret", "token", "password", "passwd", "signature", "credential", "accesskey", "keyid", "apikey"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return n == "sig" // an Azure SAS signature
}

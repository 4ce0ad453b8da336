package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
)

// Azure Blob targets (azblob://container[/prefix]) are gocloud's azureblob
// driver on a client of ferry's: a GET hit is one Get Blob whose answer
// gives the Meta (azureGet), a HEAD one Get Blob Properties (Attributes).

// openAzure opens an azblob:// URL as gocloud's default opener does (the
// same AZURE_STORAGE_* variables and URL parameters, see the azureblob
// package), with ferry's HTTP client: the SDK's default one lets Go's
// transport gunzip every body stored with Content-Encoding: gzip (and drop
// its Content-Length and Content-Encoding), so serve and scan would send
// and copy other bytes than the target holds.
func openAzure(ctx context.Context, u *url.URL) (*Bucket, error) {
	prefix := strings.TrimPrefix(u.Path, "/")
	u.Path = ""
	defaults := azureblob.NewDefaultServiceURLOptions()
	opener := &azureblob.URLOpener{
		ServiceURLOptions: *defaults,
		MakeClient: func(svc azureblob.ServiceURL, name azureblob.ContainerName) (*container.Client, error) {
			return azureClient(defaults, svc, name)
		},
	}
	b, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		return nil, err
	}
	return &Bucket{Bucket: scope(b, prefix), azure: true}, nil
}

// azureClient makes the container client with the credentials gocloud's
// default opener would pick from the environment: a shared key
// (AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY), a SAS token
// (AZURE_STORAGE_SAS_TOKEN, already part of svc), a connection string, else
// azidentity's default credential chain.
func azureClient(defaults *azureblob.ServiceURLOptions, svc azureblob.ServiceURL, name azureblob.ContainerName) (*container.Client, error) {
	opts := &container.ClientOptions{ClientOptions: policy.ClientOptions{Transport: httpClient()}}
	containerURL, err := url.JoinPath(string(svc), string(name))
	if err != nil {
		return nil, err
	}
	account, key := os.Getenv("AZURE_STORAGE_ACCOUNT"), os.Getenv("AZURE_STORAGE_KEY")
	conn := os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
	if conn == "" {
		conn = os.Getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING")
	}
	switch {
	case account != "" && key != "":
		cred, err := azblob.NewSharedKeyCredential(account, key)
		if err != nil {
			return nil, fmt.Errorf("azure shared key: %w", err)
		}
		return container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
	case defaults.SASToken != "":
		// The token is part of the service URL: URL parameters must not
		// send it to another host (as gocloud's default opener refuses).
		def, err := azureblob.NewServiceURL(defaults)
		if err != nil {
			return nil, err
		}
		if !sameOrigin(string(def), string(svc)) {
			return nil, errors.New("azblob: the URL cannot change the service endpoint when AZURE_STORAGE_SAS_TOKEN is set")
		}
		return container.NewClientWithNoCredential(containerURL, opts)
	case conn != "":
		return container.NewClientFromConnectionString(conn, string(name), opts)
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("azure default credential: %w", err)
	}
	return container.NewClient(containerURL, cred, opts)
}

func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}

// azureGet is Get on an Azure bucket: one Get Blob for rng (the whole blob
// for ""), its Meta taken from the answer's headers exactly as Attributes
// maps Get Blob Properties. Azure has no suffix range ("bytes=-5"): for one
// the Meta comes from Attributes and Body is nil (the caller reads the
// bytes, a second request).
func (b *Bucket) azureGet(ctx context.Context, key, rng string) (*Object, error) {
	off, length, ok := azureRange(rng)
	if !ok {
		return b.attributesObject(ctx, key)
	}
	r, err := b.NewRangeReader(ctx, key, off, length, nil)
	if err != nil {
		return nil, err
	}
	var d azblobblob.DownloadStreamResponse
	if !r.As(&d) {
		_ = r.Close()
		return nil, errors.New("store: azure reader without a DownloadStreamResponse")
	}
	o := &Object{Body: r, Length: -1}
	if d.ContentLength != nil {
		o.Length = *d.ContentLength
	}
	size := o.Length
	if cr := ptr(d.ContentRange); cr != "" {
		total, ok1 := rangeSize(cr)
		start, ok2 := rangeStart(cr)
		if !ok1 || !ok2 {
			_ = r.Close()
			return nil, fmt.Errorf("store: get %q: bad Content-Range %q", key, cr)
		}
		size, o.Offset = total, start
	}
	o.Meta = MetaFromAttributes(azureAttributes(&d.DownloadResponse, size, off != 0 || length >= 0))
	return o, nil
}

// azureRange turns a Range header value of serve's (see Get) into
// NewRangeReader's offset and length (-1: to the end); ok is false for a
// suffix range, which Azure does not take (and for anything else that is
// not bytes=FIRST-[LAST]).
func azureRange(rng string) (off, length int64, ok bool) {
	if rng == "" {
		return 0, -1, true
	}
	s, found := strings.CutPrefix(rng, "bytes=")
	first, last, found2 := strings.Cut(s, "-")
	if !found || !found2 || first == "" {
		return 0, 0, false
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, 0, false
	}
	if last == "" {
		return a, -1, true
	}
	z, err := strconv.ParseInt(last, 10, 64)
	if err != nil || z < a {
		return 0, 0, false
	}
	return a, z - a + 1, true
}

// azureAttributes maps a Get Blob answer as gocloud's azureblob Attributes
// maps Get Blob Properties (metadata names and values unescaped, names
// lowercased as blob.Attributes gives them); size is the whole blob's.
// ranged says the answer is for a range: its Content-MD5 (if any) is then
// the range's, and the blob's own MD5 is x-ms-blob-content-md5.
func azureAttributes(d *azblobblob.DownloadResponse, size int64, ranged bool) *blob.Attributes {
	a := &blob.Attributes{
		CacheControl:       ptr(d.CacheControl),
		ContentDisposition: ptr(d.ContentDisposition),
		ContentEncoding:    ptr(d.ContentEncoding),
		ContentLanguage:    ptr(d.ContentLanguage),
		ContentType:        ptr(d.ContentType),
		Size:               size,
		MD5:                d.BlobContentMD5,
	}
	if !ranged && len(d.ContentMD5) > 0 {
		a.MD5 = d.ContentMD5
	}
	if d.LastModified != nil {
		a.ModTime = *d.LastModified
	}
	if d.CreationTime != nil {
		a.CreateTime = *d.CreationTime
	}
	a.ETag = ptr(d.ETag)
	if len(d.Metadata) > 0 {
		a.Metadata = make(map[string]string, len(d.Metadata))
		for k, v := range d.Metadata {
			if v != nil {
				a.Metadata[strings.ToLower(hexUnescape(k))] = urlUnescape(*v)
			}
		}
	}
	return a
}

func ptr[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

// azureError returns the Azure answer err carries, nil when there is none.
func azureError(err error) *azcore.ResponseError {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

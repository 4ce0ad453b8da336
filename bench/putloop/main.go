// Bare PUT loop: the ceiling. Reads every file of a directory and PUTs it,
// N in parallel; no listing, no checks, no metadata, no conditions.
//
//	putloop DIR BUCKET ENDPOINT N [sdk|http|http-create|http-create-meta]
//
// sdk (the default) calls the AWS SDK's PutObject; http sends each file as
// one SigV4-signed HTTP PUT (signed with the SDK's signer), which costs the
// client about a third of the SDK's CPU; http-create adds If-None-Match: *,
// the create-only condition every ferry write carries; http-create-meta adds
// the headers ferry's PUT of a file carries too (a Content-Type and the
// origin's ETag and Last-Modified as user metadata). Credentials and region come from
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: putloop DIR BUCKET ENDPOINT N [sdk|http|http-create|http-create-meta]")
		os.Exit(2)
	}
	dir, bucket, ep := os.Args[1], os.Args[2], os.Args[3]
	n, _ := strconv.Atoi(os.Args[4])
	mode := "sdk"
	if len(os.Args) > 5 {
		mode = os.Args[5]
	}
	// The same connection pool and write buffer as ferry's (store.httpClient):
	// with a default idle pool, the workers would keep reconnecting, and with
	// Go's 4 KiB buffer a small PUT takes two writes instead of one.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, DisableCompression: true, WriteBufferSize: 32 << 10}}
	var put func(key string, body []byte) error
	switch mode {
	case "sdk":
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			panic(err)
		}
		cfg.HTTPClient = hc
		c := s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(ep)
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		})
		put = func(key string, body []byte) error {
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
			return err
		}
	case "http", "http-create", "http-create-meta":
		createOnly := mode != "http"
		withMeta := mode == "http-create-meta"
		creds := aws.Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
		region := os.Getenv("AWS_REGION")
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		put = func(key string, body []byte) error {
			req, err := http.NewRequest(http.MethodPut, ep+"/"+bucket+"/"+httpbinding.EscapePath(key, false), bytes.NewReader(body))
			if err != nil {
				return err
			}
			sum := sha256.Sum256(body)
			hash := hex.EncodeToString(sum[:])
			req.Header.Set("X-Amz-Content-Sha256", hash)
			if createOnly {
				req.Header.Set("If-None-Match", "*")
			}
			if withMeta { // the headers ferry's PUT of a file carries
				req.Header.Set("Content-Type", "application/octet-stream")
				req.Header.Set("X-Amz-Meta-Origin-Etag", fmt.Sprintf(`"%x-%x"`, time.Now().UnixNano(), len(body)))
				req.Header.Set("X-Amz-Meta-Origin-Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			}
			if err := signer.SignHTTP(context.Background(), creds, req, hash, "s3", region, time.Now()); err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("PUT %s: %s", key, resp.Status)
			}
			return nil
		}
	default:
		fmt.Fprintf(os.Stderr, "putloop: unknown mode %q (sdk, http, http-create or http-create-meta)\n", mode)
		os.Exit(2)
	}
	var files []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	ch := make(chan string)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for p := range ch {
				b, err := os.ReadFile(p)
				if err != nil {
					panic(err)
				}
				rel, _ := filepath.Rel(dir, p)
				if err := put(filepath.ToSlash(rel), b); err != nil {
					panic(err)
				}
			}
		})
	}
	for _, f := range files {
		ch <- f
	}
	close(ch)
	wg.Wait()
}

// Bare PUT loop: the ceiling. Reads every file of a directory and PUTs it with
// the AWS SDK, N in parallel; no listing, no checks, no metadata.
package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	dir, bucket, ep := os.Args[1], os.Args[2], os.Args[3]
	n, _ := strconv.Atoi(os.Args[4])
	cfg, _ := config.LoadDefaultConfig(context.Background())
	// The same connection pool as ferry's (store.httpClient): with the SDK's
	// default idle pool, 32 workers would keep reconnecting.
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, DisableCompression: true}}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(ep)
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	var files []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	ch := make(chan string)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ch {
				b, err := os.ReadFile(p)
				if err != nil {
					panic(err)
				}
				rel, _ := filepath.Rel(dir, p)
				if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &rel, Body: bytes.NewReader(b)}); err != nil {
					panic(err)
				}
			}
		}()
	}
	for _, f := range files {
		ch <- f
	}
	close(ch)
	wg.Wait()
}

package store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// CheckTarget checks the shape of a target (a path, or a URL with a scheme
// Open understands), so a mistyped URL is refused before anything is
// opened; "" passes.
func CheckTarget(s string) error { return checkURL(s, false) }

// CheckOrigin is CheckTarget for a listable origin; a web server is
// explained: it cannot be listed.
func CheckOrigin(s string) error { return checkURL(s, true) }

func checkURL(s string, origin bool) error {
	if s == "" || !strings.Contains(s, "://") {
		return nil // a directory, or none
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL: %v", errors.Unwrap(err))
	}
	switch u.Scheme {
	case "s3":
		return checkEndpoint(u.Query().Get("endpoint"))
	case "file", "gs", "azblob", "mem": // as open takes them
		return nil
	case "http", "https":
		if origin {
			return errors.New("is a web server, which cannot be listed: scan it with --keys FILE through a rule " +
				"(ferry rules add --origin " + s + ", then ferry scan --keys keys.txt); origin takes a directory or a bucket URL")
		}
		return errors.New("is a web address, but a target is a bucket: write s3://BUCKET?endpoint=" + s)
	}
	return fmt.Errorf("has an unsupported scheme %q: use a directory, file://, s3://, gs:// or azblob://", u.Scheme)
}

// checkEndpoint checks an s3:// URL's endpoint= as Open takes it ("": AWS;
// without a scheme, https:// is meant).
func checkEndpoint(ep string) error {
	if ep == "" {
		return nil
	}
	full := ep
	if !strings.Contains(ep, "://") {
		full = "https://" + ep
	}
	e, err := url.Parse(full)
	if err != nil || e.Host == "" || e.Scheme != "http" && e.Scheme != "https" {
		if err == nil && e.User != nil {
			ep = Redact(ep)
		}
		return fmt.Errorf("has endpoint=%s, which is not an http(s) address such as https://s3.example.com or s3.example.com", ep)
	}
	return nil
}

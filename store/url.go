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
	case "file", "s3", "gs", "azblob", "mem": // as open takes them
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

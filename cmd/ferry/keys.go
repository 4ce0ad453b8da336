package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/internal/cliconf"
	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/spf13/pflag"
)

// key is the one declaration of a configuration key (name, flag, help, typed
// field with default and check); tables of keys are built by (*Config).keys.
type key cliconf.Key

// Env is the key's FERRY_ environment variable.
func (k key) Env() string { return cliconf.Key(k).Env() }

// cliKeys converts a key table for internal/cliconf.
func cliKeys(keys []key) []cliconf.Key {
	out := make([]cliconf.Key, len(keys))
	for i, k := range keys {
		out[i] = cliconf.Key(k)
	}
	return out
}

// sizeText checks that a string key holds a size (kept as text for the
// options that parse it themselves).
func sizeText(s string) error {
	_, err := confval.ParseSize(s)
	return err
}

// listenAddr checks a listen address: host:port with a port number or
// service name; "" passes (checked by confval.NotEmpty where it is required).
func listenAddr(s string) error {
	if s == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return errors.New("is not host:port, such as :8080 or 127.0.0.1:8080")
	}
	return nil
}

// Bucket URL schemes that store.Open understands.
var bucketSchemes = []string{"file", "s3", "gs", "azblob", "mem"}

// bucketURL checks the shape of a target or origin (a path, or a URL with a
// scheme store.Open understands), so a mistyped URL is a configuration
// error before anything is opened. A web server is explained: it is not
// listable.
func bucketURL(role string) func(string) error {
	return func(s string) error {
		if s == "" || !strings.Contains(s, "://") {
			return nil // a directory, or no origin
		}
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("is not a URL: %v", errors.Unwrap(err))
		}
		switch {
		case slices.Contains(bucketSchemes, u.Scheme):
			return nil
		case (u.Scheme == "http" || u.Scheme == "https") && role == "origin":
			return errors.New("is a web server, which cannot be listed: scan it with --keys FILE through a rule " +
				"(ferry rules add --origin " + s + ", then ferry scan --keys keys.txt); origin takes a directory or a bucket URL")
		case u.Scheme == "http" || u.Scheme == "https":
			return errors.New("is a web address, but a target is a bucket: write s3://BUCKET?endpoint=" + s)
		}
		return fmt.Errorf("has an unsupported scheme %q: use a directory, file://, s3://, gs:// or azblob://", u.Scheme)
	}
}

// keyAnnotation ties a flag to its config key.
const keyAnnotation = cliconf.Annotation

// addKeyFlags defines on fs the flags of the named config keys, with the
// help and default of their declaration.
func addKeyFlags(fs *pflag.FlagSet, names ...string) {
	cliconf.AddFlags(fs, cliKeys(allKeys()), names...)
}

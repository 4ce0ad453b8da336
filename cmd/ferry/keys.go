package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/internal/confval"
	"github.com/spf13/pflag"
)

// key is the one declaration of a configuration key: its name in the config
// file (dotted for sections: serve.listen), from which its FERRY_ environment
// variable follows; the flag tied to it ("" for none: a command adds it with
// addKeyFlags); its help; and the typed field it decodes into, with its
// default and its check. Tables of keys are built by (*Config).keys.
type key struct {
	name string
	flag string
	help string
	val  confval.Value
}

// env is the key's environment variable: FERRY_ and the key upper-cased,
// with "." and "-" as "_".
func (k key) env() string {
	return "FERRY_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k.name))
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
const keyAnnotation = "ferry-config-key"

// keyFlag is the flag of a config key. It only holds the text given on the
// command line; the key decodes it like a file or environment value, so a
// bad flag value is reported the same way.
type keyFlag struct{ val, typ string }

func (f *keyFlag) String() string     { return f.val }
func (f *keyFlag) Set(s string) error { f.val = s; return nil }
func (f *keyFlag) Type() string       { return f.typ }

// addKeyFlags defines on fs the flags of the named config keys, with the
// help and default of their declaration.
func addKeyFlags(fs *pflag.FlagSet, names ...string) {
	keys := (&Config{}).keys()
	for _, name := range names {
		i := slices.IndexFunc(keys, func(k key) bool { return k.name == name })
		if i < 0 || keys[i].flag == "" {
			panic("no flag for config key " + name) // programming error
		}
		k := keys[i]
		fs.Var(&keyFlag{val: k.val.DefaultText(), typ: k.val.Kind()}, k.flag, k.help)
		if k.val.Kind() == "bool" {
			fs.Lookup(k.flag).NoOptDefVal = "true"
		}
		if err := fs.SetAnnotation(k.flag, keyAnnotation, []string{k.name}); err != nil {
			panic(err)
		}
	}
}

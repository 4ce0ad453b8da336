package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
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
	val  keyValue
}

// env is the key's environment variable: FERRY_ and the key upper-cased,
// with "." and "-" as "_".
func (k key) env() string {
	return "FERRY_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k.name))
}

// keyValue is the typed field behind a key.
type keyValue interface {
	// decode parses text (from the file, the environment or a flag), checks
	// it and stores it in the field.
	decode(text string) error
	// text formats the field's current value as a user would write it.
	text() string
	// defaultText is the default as a user would write it.
	defaultText() string
	// kind names the type in flag help: string, int, size, duration, ...
	kind() string
}

// field is a keyValue of type T.
type field[T any] struct {
	p      *T
	def    T
	kname  string
	parse  func(string) (T, error)
	format func(T) string
	check  func(T) error
}

func (f *field[T]) decode(s string) error {
	v, err := f.parse(s)
	if err != nil {
		return err
	}
	if f.check != nil {
		if err := f.check(v); err != nil {
			return err
		}
	}
	*f.p = v
	return nil
}

func (f *field[T]) text() string        { return f.format(*f.p) }
func (f *field[T]) defaultText() string { return f.format(f.def) }
func (f *field[T]) kind() string        { return f.kname }

// newField returns the keyValue of *p (which it does not change).
func newField[T any](p *T, def T, kind string, parse func(string) (T, error), format func(T) string, check func(T) error) keyValue {
	return &field[T]{p: p, def: def, kname: kind, parse: parse, format: format, check: check}
}

// str is a string key; checks (none, or several) run on every value.
func str(p *string, def string, checks ...func(string) error) keyValue {
	return newField(p, def, "string", func(s string) (string, error) { return s, nil },
		func(s string) string { return s },
		func(s string) error {
			for _, c := range checks {
				if err := c(s); err != nil {
					return err
				}
			}
			return nil
		})
}

// integer is an int key of at least lo.
func integer(p *int, def, lo int) keyValue {
	return newField(p, def, "int", func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, errors.New("is not a whole number")
		}
		return n, nil
	}, strconv.Itoa, atLeast(lo))
}

// float is a float64 key of at least lo.
func float(p *float64, def, lo float64) keyValue {
	return newField(p, def, "float", func(s string) (float64, error) {
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, errors.New("is not a number")
		}
		return n, nil
	}, func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }, atLeast(lo))
}

// boolean is a bool key (true/false).
func boolean(p *bool, def bool) keyValue {
	return newField(p, def, "bool", func(s string) (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return false, errors.New("is not true or false")
		}
		return b, nil
	}, strconv.FormatBool, nil)
}

// duration is a positive time.Duration key (30s, 2m, 1h).
func duration(p *time.Duration, def time.Duration) keyValue {
	return newField(p, def, "duration", func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, errors.New("is not a duration such as 30s, 2m or 1h")
		}
		return d, nil
	}, time.Duration.String, func(d time.Duration) error {
		if d <= 0 {
			return errors.New("must be a positive duration such as 30s")
		}
		return nil
	})
}

// size is a byte count key of at least lo, written with or without a unit.
func size[T int | int64](p *T, def, lo T) keyValue {
	return newField(p, def, "size", func(s string) (T, error) {
		n, err := parseSize(s)
		return T(n), err
	}, func(v T) string { return formatSize(int64(v)) }, atLeast(lo))
}

func atLeast[T int | int64 | float64](lo T) func(T) error {
	return func(v T) error {
		if v < lo {
			return fmt.Errorf("must be at least %v", lo)
		}
		return nil
	}
}

// parseSize is ferry's one parser of byte counts and rates: a number with an
// optional binary unit, K, M, G, T or P, written 50M, 50MB, 50MiB or 50 MiB
// (all 50×2^20), a trailing /s allowed for rates; "" is 0.
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	if t == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(t)
	if err != nil || n < 0 {
		return 0, errors.New("is not a size such as 512K, 50M, 5GiB or 1000 (bytes)")
	}
	return n, nil
}

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"TiB", units.TiB}, {"GiB", units.GiB}, {"MiB", units.MiB}, {"KiB", units.KiB}} {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// sizeText checks that a string key holds a size (kept as text for the
// options that parse it themselves).
func sizeText(s string) error {
	_, err := parseSize(s)
	return err
}

func notEmpty(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// oneOf accepts the choices (in any case) and the aliases, which the
// message does not list.
func oneOf(choices []string, aliases ...string) func(string) error {
	return func(s string) error {
		if l := strings.ToLower(s); !slices.Contains(choices, l) && !slices.Contains(aliases, l) {
			return fmt.Errorf("is not one of %s", strings.Join(choices, ", "))
		}
		return nil
	}
}

// listenAddr checks a listen address: host:port with a port number or
// service name; "" passes (checked by notEmpty where it is required).
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
		fs.Var(&keyFlag{val: k.val.defaultText(), typ: k.val.kind()}, k.flag, k.help)
		if k.val.kind() == "bool" {
			fs.Lookup(k.flag).NoOptDefVal = "true"
		}
		if err := fs.SetAnnotation(k.flag, keyAnnotation, []string{k.name}); err != nil {
			panic(err)
		}
	}
}

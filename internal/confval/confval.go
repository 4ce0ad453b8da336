// Package confval holds the typed values behind ferry's configuration
// keys: each parses the text a user wrote (in a file, an environment
// variable or a flag) into a typed field, checks it, and formats it back. It
// has ferry's one parser of sizes (ParseSize).
package confval

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// Value is the typed field behind a configuration key.
type Value interface {
	// Decode parses text (from the file, the environment or a flag), checks
	// it and stores it in the field.
	Decode(text string) error
	// Text formats the field's current value as a user would write it.
	Text() string
	// DefaultText is the default as a user would write it.
	DefaultText() string
	// Kind names the type in flag help: string, int, size, duration, ...
	Kind() string
}

// field is a Value of type T.
type field[T any] struct {
	p      *T
	def    T
	kname  string
	parse  func(string) (T, error)
	format func(T) string
	check  func(T) error
}

func (f *field[T]) Decode(s string) error {
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

func (f *field[T]) Text() string        { return f.format(*f.p) }
func (f *field[T]) DefaultText() string { return f.format(f.def) }
func (f *field[T]) Kind() string        { return f.kname }

// newField returns the Value of *p (which it does not change).
func newField[T any](p *T, def T, kind string, parse func(string) (T, error), format func(T) string, check func(T) error) Value {
	return &field[T]{p: p, def: def, kname: kind, parse: parse, format: format, check: check}
}

// String is a string key; checks (none, or several) run on every value.
func String(p *string, def string, checks ...func(string) error) Value {
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

// Int is an int key of at least lo.
func Int(p *int, def, lo int) Value {
	return newField(p, def, "int", func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, errors.New("is not a whole number")
		}
		return n, nil
	}, strconv.Itoa, AtLeast(lo))
}

// Float is a float64 key of at least lo.
func Float(p *float64, def, lo float64) Value {
	return newField(p, def, "float", func(s string) (float64, error) {
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, errors.New("is not a number")
		}
		return n, nil
	}, func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }, AtLeast(lo))
}

// Bool is a bool key (true/false).
func Bool(p *bool, def bool) Value {
	return newField(p, def, "bool", func(s string) (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return false, errors.New("is not true or false")
		}
		return b, nil
	}, strconv.FormatBool, nil)
}

// Duration is a positive time.Duration key (30s, 2m, 1h).
func Duration(p *time.Duration, def time.Duration) Value {
	return newField(p, def, "duration", parseDuration, time.Duration.String, func(d time.Duration) error {
		if d <= 0 {
			return errors.New("must be a positive duration such as 30s")
		}
		return nil
	})
}

// Delay is a time.Duration key that may also be 0, which turns it off.
func Delay(p *time.Duration, def time.Duration) Value {
	return newField(p, def, "duration", parseDuration, time.Duration.String, func(d time.Duration) error {
		if d < 0 {
			return errors.New("must not be negative (0s turns it off)")
		}
		return nil
	})
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("is not a duration such as 30s, 2m or 1h")
	}
	return d, nil
}

// Size is a byte count key of at least lo, written with or without a unit.
func Size[T int | int64](p *T, def, lo T) Value {
	return newField(p, def, "size", func(s string) (T, error) {
		n, err := ParseSize(s)
		return T(n), err
	}, func(v T) string { return FormatSize(int64(v)) }, AtLeast(lo))
}

// AtLeast refuses a value below lo.
func AtLeast[T int | int64 | float64](lo T) func(T) error {
	return func(v T) error {
		if v < lo {
			return fmt.Errorf("must be at least %v", lo)
		}
		return nil
	}
}

// ParseSize is ferry's one parser of byte counts and rates: a number with an
// optional binary unit, K, M, G, T or P, written 50M, 50MB, 50MiB or 50 MiB
// (all 50×2^20), a trailing /s allowed for rates; "" is 0.
func ParseSize(s string) (int64, error) {
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

// SizeText checks that a string key holds a size (ParseSize), for the
// keys kept as text.
func SizeText(s string) error {
	_, err := ParseSize(s)
	return err
}

// FormatSize writes n with the largest binary unit that divides it.
func FormatSize(n int64) string {
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

// NotEmpty refuses "".
func NotEmpty(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// OneOf accepts the choices (in any case) and the aliases, which the
// message does not list.
func OneOf(choices []string, aliases ...string) func(string) error {
	return func(s string) error {
		if l := strings.ToLower(s); !slices.Contains(choices, l) && !slices.Contains(aliases, l) {
			return fmt.Errorf("is not one of %s", strings.Join(choices, ", "))
		}
		return nil
	}
}

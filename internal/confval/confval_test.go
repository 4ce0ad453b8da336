package confval

import (
	"testing"
	"time"
)

// TestParseSize: one parser for every size and rate, with binary units.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"5GiB": 5 << 30, "50M": 50 << 20, "50MB": 50 << 20, "512K/s": 512 << 10, "1000": 1000, "1.5G": 3 << 29, "": 0} {
		if n, err := ParseSize(in); err != nil || n != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"12Q", "-1", "M", "5 GiBs"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	if FormatSize(5<<30) != "5GiB" || FormatSize(1000) != "1000" {
		t.Errorf("FormatSize: %s %s", FormatSize(5<<30), FormatSize(1000))
	}
}

// TestValues: a value is decoded, checked, and formatted back.
func TestValues(t *testing.T) {
	var d time.Duration
	v := Duration(&d, time.Second)
	if err := v.Decode("2m"); err != nil || d != 2*time.Minute || v.Text() != "2m0s" || v.DefaultText() != "1s" {
		t.Errorf("duration: %v %v %q", err, d, v.Text())
	}
	for _, bad := range []string{"abc", "0s", "-1s"} {
		if err := v.Decode(bad); err == nil {
			t.Errorf("duration %q accepted", bad)
		}
	}
	dv := Delay(&d, 0)
	if err := dv.Decode("0s"); err != nil || d != 0 || dv.DefaultText() != "0s" {
		t.Errorf("delay 0s: %v %v", err, d)
	}
	if err := dv.Decode("10s"); err != nil || d != 10*time.Second {
		t.Errorf("delay 10s: %v %v", err, d)
	}
	for _, bad := range []string{"abc", "-1s"} {
		if err := dv.Decode(bad); err == nil {
			t.Errorf("delay %q accepted", bad)
		}
	}
	var n int
	if err := Int(&n, 1, 1).Decode("0"); err == nil {
		t.Error("an int below its minimum was accepted")
	}
	var s string
	if err := String(&s, "", OneOf([]string{"a", "b"}, "c")).Decode("c"); err != nil || s != "c" {
		t.Errorf("alias: %v %q", err, s)
	}
}

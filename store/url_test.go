package store

import (
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	for _, s := range []string{"", "./dir", "file://./d", "s3://b?endpoint=http://x", "s3://b?endpoint=s3.example.com&region=r", "gs://b", "azblob://c", "mem://"} {
		if err := CheckTarget(s); err != nil {
			t.Errorf("CheckTarget(%q) = %v", s, err)
		}
		if err := CheckOrigin(s); err != nil {
			t.Errorf("CheckOrigin(%q) = %v", s, err)
		}
	}
	for s, want := range map[string]string{
		"http://www.example.com":                      "a target is a bucket: write s3://BUCKET?endpoint=http://www.example.com",
		"ftp://host/":                                 `unsupported scheme "ftp"`,
		"s3://%zz":                                    "is not a URL",
		"s3://b?endpoint=htp://x":                     `has endpoint=htp://x, which is not an http(s) address`,
		"s3://b?endpoint=http://":                     "has endpoint=http://, which",
		"s3://b?endpoint=htp%3A%2F%2Fk%3Ahunter2%40h": "which is not",
	} {
		if err := CheckTarget(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckTarget(%q) = %v, want %q", s, err, want)
		}
	}
	if err := CheckTarget("s3://b?endpoint=htp%3A%2F%2Fk%3Ahunter2%40h"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("CheckTarget of a bad endpoint with a password = %v, want an error without it", err)
	}
	if err := CheckOrigin("https://old.example.com/"); err == nil || !strings.Contains(err.Error(), "cannot be listed") {
		t.Errorf("CheckOrigin of a web server = %v", err)
	}
}

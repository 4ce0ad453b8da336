package store

import (
	"net/url"
	"testing"
)

func TestDirectObjectURL(t *testing.T) {
	for _, c := range []struct {
		endpoint, prefix string
		pathStyle        bool
		key, want        string
	}{
		{"http://127.0.0.1:9000", "", true, "a b/c+d%e", "http://127.0.0.1:9000/bkt/a%20b/c%2Bd%25e"},
		{"https://s3.example.com/", "pre/", true, "日本", "https://s3.example.com/bkt/pre/%E6%97%A5%E6%9C%AC"},
		{"https://s3.example.com", "", false, "x?y#z", "https://bkt.s3.example.com/x%3Fy%23z"},
		{"https://gw.example.com/s3", "", true, "a//b", "https://gw.example.com/s3/bkt/a//b"},
	} {
		d := &DirectPutter{bucket: "bkt", prefix: c.prefix, pathStyle: c.pathStyle}
		d.base = mustURL(t, c.endpoint)
		if got := d.objectURL(d.prefix + c.key); got != c.want {
			t.Errorf("objectURL(%q) with %s = %s, want %s", c.key, c.endpoint, got, c.want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

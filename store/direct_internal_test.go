package store

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
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

// A redirect from the endpoint is an error, never followed: the object must
// not be sent to wherever the Location points.
func TestDirectPutNeverFollowsRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer ep.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	b, err := OpenWith(context.Background(), "s3://bkt?endpoint="+ep.URL, Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Direct().Put(context.Background(), "k", []byte("secret body"), nil)
	var se *S3Error
	if !errors.As(err, &se) || se.Status != http.StatusTemporaryRedirect {
		t.Fatalf("Put = %v, want an S3Error with status 307", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("redirect target got %d requests", n)
	}
}

func TestExplainDirectErrors(t *testing.T) {
	for code, want := range map[string]string{
		"RequestTimeTooSkewed":  "clock is too far off",
		"SignatureDoesNotMatch": "bad credentials: SignatureDoesNotMatch",
		"AccessDenied":          "access denied",
	} {
		err := &S3Error{Op: "PUT", Key: "k", Status: http.StatusForbidden, Code: code}
		if got := Explain(err); !strings.Contains(got, want) {
			t.Errorf("Explain(%s) = %q, want it to contain %q", code, got, want)
		}
		if !IsPermission(err) {
			t.Errorf("IsPermission(%s) = false", code)
		}
	}
}

package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob"
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

// openEndpoint opens bucket bkt at the S3 endpoint ep with static
// credentials and no bucket check, closed when the test ends.
func openEndpoint(t *testing.T, ep string) *Bucket {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	b, err := OpenWith(context.Background(), "s3://bkt?endpoint="+ep, Options{SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
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
	for _, params := range []string{"", "&fast_client=false"} {
		b := openEndpoint(t, ep.URL+params)
		err := b.Direct().Put(context.Background(), "k", []byte("secret body"), nil)
		var se *S3Error
		if !errors.As(err, &se) || se.Status != http.StatusTemporaryRedirect {
			t.Fatalf("Put%s = %v, want an S3Error with status 307", params, err)
		}
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

// countingConn counts the writes sent on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A small object's PUT leaves in one write (headers and body together), so
// a server reads it in one go; a body bigger than the write buffer is
// written as it is read.
func TestSmallPutIsOneWrite(t *testing.T) {
	var got atomic.Int64
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
	}))
	defer ep.Close()
	for _, client := range []string{"fasthttp", "net/http"} {
		b := openEndpoint(t, ep.URL)
		d := b.Direct()
		var writes atomic.Int64
		if client == "fasthttp" {
			dial := d.fast.hc.Dial
			d.fast.hc.Dial = func(addr string) (net.Conn, error) {
				c, err := dial(addr)
				if err != nil {
					return nil, err
				}
				return countingConn{c, &writes}, nil
			}
		} else {
			d.fast = nil
			tr := d.client.Transport.(*http.Transport).Clone()
			dial := tr.DialContext
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return countingConn{c, &writes}, nil
			}
			d.client.Transport = tr
		}
		for _, c := range []struct {
			size     int
			oneWrite bool
		}{{4 << 10, true}, {24 << 10, true}, {256 << 10, false}} {
			writes.Store(0)
			if err := d.Put(context.Background(), "k", bytes.Repeat([]byte("x"), c.size), &blob.WriterOptions{IfNotExist: true}); err != nil {
				t.Fatal(err)
			}
			if got.Load() != int64(c.size) {
				t.Fatalf("%s, %d bytes: the server read %d", client, c.size, got.Load())
			}
			if n := writes.Load(); (n == 1) != c.oneWrite {
				t.Errorf("%s: a PUT of %d bytes took %d writes, want one: %v", client, c.size, n, c.oneWrite)
			}
		}
	}
}

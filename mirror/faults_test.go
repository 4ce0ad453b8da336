package mirror

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hijack takes over the connection to write a raw, broken response.
func hijack(t *testing.T, w http.ResponseWriter, raw string) net.Conn {
	conn, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return nil
	}
	_, _ = bw.WriteString(raw)
	_ = bw.Flush()
	return conn
}

// Every fault leaves nothing in the target, no spool file, a journal line,
// and readers that see an error, never a clean EOF.
func TestFaults(t *testing.T) {
	big := strings.Repeat("x", 5000)
	cases := []struct {
		name     string
		handler  func(t *testing.T) http.HandlerFunc
		opts     func(*Options)
		atHead   bool // Get itself fails
		reason   string
		hitsWant int64 // 0 = do not check
	}{
		{name: "short body", reason: "length", handler: func(t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1000")
				_, _ = w.Write([]byte(big[:500]))
			}
		}},
		{name: "chunked body cut", reason: "network", handler: func(t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				c := hijack(t, w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"+big[:1024]+"\r\n")
				if c != nil {
					_ = c.Close()
				}
			}
		}},
		{name: "connection reset", handler: func(t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				c := hijack(t, w, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+big[:1000])
				if c != nil {
					time.Sleep(20 * time.Millisecond)
					_ = c.(*net.TCPConn).SetLinger(0)
					_ = c.Close()
				}
			}
		}},
		{name: "stall beyond idle timeout", reason: "timeout", opts: func(o *Options) { o.IdleTimeout = 300 * time.Millisecond },
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", "2000")
					_, _ = w.Write([]byte(big[:1000]))
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
					case <-time.After(10 * time.Second):
					}
				}
			}},
		{name: "wrong Content-MD5", reason: "md5", handler: func(t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sum := md5.Sum([]byte("something else"))
				w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
				_, _ = w.Write([]byte("hello"))
			}
		}},
		{name: "too large with length", reason: "too_large", atHead: true, opts: func(o *Options) { o.MaxObjectSize = 1000 },
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", strconv.Itoa(len(big)))
					_, _ = w.Write([]byte(big))
				}
			}},
		{name: "too large chunked", reason: "too_large", opts: func(o *Options) { o.MaxObjectSize = 1000 },
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					for i := 0; i < 5; i++ {
						_, _ = w.Write([]byte(big[:1000]))
						w.(http.Flusher).Flush()
					}
				}
			}},
		{name: "redirect loop of 11", reason: "redirect_loop", atHead: true, hitsWant: 11,
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.URL.Query().Get("n"))
					http.Redirect(w, r, fmt.Sprintf("/k?n=%d", n+1), http.StatusFound)
				}
			}},
		{name: "headers never come", reason: "timeout", atHead: true, opts: func(o *Options) { o.HeaderTimeout = 200 * time.Millisecond },
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					select {
					case <-r.Context().Done():
					case <-time.After(10 * time.Second):
					}
				}
			}},
		{name: "server error", reason: "status", atHead: true, handler: func(t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
		}},
	}
	for _, tk := range targets {
		for _, tc := range cases {
			t.Run(tk.name+"/"+tc.name, func(t *testing.T) {
				leakCheck(t)
				o := newOrigin(t, tc.handler(t))
				e := newEnv(t, tk.open(t), tc.opts)
				s, err := e.m.Get(context.Background(), e.req(o.URL, "k"))
				if tc.atHead {
					if got := failedReason(err); got != tc.reason {
						t.Fatalf("Get error %v (reason %q), want reason %q", err, got, tc.reason)
					}
				} else {
					if err != nil {
						t.Fatalf("Get: %v", err)
					}
					got, rerr := readAll(s.NewReader(0, -1))
					if rerr == nil {
						t.Fatalf("reader saw a clean EOF after %d bytes", len(got))
					}
					_, err = s.Wait(context.Background())
					_ = s.Close()
					if err == nil {
						t.Fatal("fill succeeded")
					}
					if tc.reason != "" && failedReason(err) != tc.reason {
						t.Fatalf("fill error %v, want reason %q", err, tc.reason)
					}
				}
				if tc.hitsWant != 0 && o.hits.Load() != tc.hitsWant {
					t.Fatalf("origin requests = %d, want %d", o.hits.Load(), tc.hitsWant)
				}
				e.assertClean()
				en := e.entries()
				if len(en) != 1 || en[0].Result != "failed" || en[0].Error == "" {
					t.Fatalf("journal = %+v", en)
				}
			})
		}
	}
}

// mapHosts makes made-up host names resolve to the given loopback address
// (a stand-in for DNS) so redirects can cross hosts in tests.
func mapHosts(m map[string]string) func(string) string {
	return func(hostport string) string {
		if v, ok := m[hostport]; ok {
			return v
		}
		return hostport
	}
}

// A redirect from the configured origin to a non-public address is refused
// at dial time, whether the Location names the address or a host name that
// resolves to it (DNS rebinding). The configured origin itself may be
// loopback: it is trusted as given.
func TestRedirectBlocked(t *testing.T) {
	for _, loc := range []string{
		"http://127.0.0.1:%s/secret",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]:%s/secret",
		"http://[::ffff:127.0.0.1]:%s/secret",
		"http://rebind.test:%s/secret",
		"http://10.1.2.3/secret",
		"http://100.64.0.1/secret",
	} {
		t.Run(loc, func(t *testing.T) {
			leakCheck(t)
			var secret atomic.Int64
			var port string
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/secret" {
					secret.Add(1)
					_, _ = w.Write([]byte("internal"))
					return
				}
				target := loc
				if strings.Contains(loc, "%s") {
					target = fmt.Sprintf(loc, port)
				}
				http.Redirect(w, r, target, http.StatusFound)
			})
			_, port, _ = net.SplitHostPort(strings.TrimPrefix(o.URL, "http://"))
			e := newEnv(t, targets[0].open(t), func(op *Options) {
				op.ConnectTimeout = 2 * time.Second
				op.mapAddr = mapHosts(map[string]string{
					"origin.test:" + port: "127.0.0.1:" + port,
					"rebind.test:" + port: "127.0.0.1:" + port,
				})
			})
			_, err := e.m.Get(context.Background(), e.req("http://origin.test:"+port, "k"))
			if got := failedReason(err); got != "redirect_blocked" {
				t.Fatalf("err %v (reason %q), want redirect_blocked", err, got)
			}
			if secret.Load() != 0 {
				t.Fatal("the redirect reached the internal address")
			}
			e.assertClean()
		})
	}
}

// Only the rule's exact scheme, host and port is trusted: a redirect to the
// same IP on another port (a co-located admin port), or to another spelling
// or name of the origin's address, goes through the address policy and is
// refused, so nothing from there is fetched or stored.
func TestRedirectOtherPortOfOriginBlocked(t *testing.T) {
	var secret atomic.Int64
	internal := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		secret.Add(1)
		_, _ = w.Write([]byte("internal"))
	})
	for _, loc := range []string{
		"http://127.0.0.1:{Q}/secret",          // same IP, other port
		"https://127.0.0.1:{P}/secret",         // same host and port, other scheme
		"http://localhost:{P}/secret",          // a name for the same address
		"http://localhost:{Q}/secret",          // ... on the other port
		"http://[::ffff:127.0.0.1]:{Q}/secret", // IPv4-mapped IPv6
		"http://2130706433:{Q}/secret",         // decimal IPv4
		"http://0177.0.0.1:{Q}/secret",         // octal IPv4
		"http://0x7f.0.0.1:{Q}/secret",         // hex IPv4
		"http://017700000001:{P}/secret",       // octal, one part
		"http://alias.test:{P}/secret",         // a DNS name resolving to the origin's IP
		"http://alias.test:{Q}/secret",         // ... and to the other port
		"//127.0.0.1:{Q}/secret",               // scheme-relative
	} {
		t.Run(loc, func(t *testing.T) {
			leakCheck(t)
			secret.Store(0)
			q := otherPort(internal)
			var p string
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/secret" {
					secret.Add(1)
					_, _ = w.Write([]byte("internal"))
					return
				}
				http.Redirect(w, r, strings.NewReplacer("{P}", p, "{Q}", q).Replace(loc), http.StatusFound)
			})
			p = otherPort(o)
			e := newEnv(t, targets[0].open(t), func(op *Options) {
				op.ConnectTimeout = 2 * time.Second
				op.mapAddr = mapHosts(map[string]string{
					"alias.test:" + p: "127.0.0.1:" + p,
					"alias.test:" + q: "127.0.0.1:" + q,
				})
			})
			_, err := e.m.Get(context.Background(), e.req(o.URL, "k"))
			if got := failedReason(err); got != "redirect_blocked" {
				t.Fatalf("err %v (reason %q), want redirect_blocked", err, got)
			}
			if secret.Load() != 0 {
				t.Fatal("the redirect reached another port or name of the origin")
			}
			e.assertClean()
		})
	}
}

// A followed redirect that only adds a trailing slash is a web server's
// answer for a directory: the key is not an object (404), and the
// directory's index page is never stored under it.
func TestRedirectToDirectoryIsNotFound(t *testing.T) {
	for _, loc := range []string{"/img/", "img/", "http://{H}/img/"} {
		t.Run(loc, func(t *testing.T) {
			leakCheck(t)
			var index atomic.Int64
			var host string
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/img/" {
					index.Add(1)
					_, _ = w.Write([]byte("<html>Index of /img/</html>"))
					return
				}
				w.Header().Set("Location", strings.ReplaceAll(loc, "{H}", host))
				w.WriteHeader(http.StatusMovedPermanently)
			})
			host = strings.TrimPrefix(o.URL, "http://")
			e := newEnv(t, targets[0].open(t), nil)
			_, err := e.fill(context.Background(), e.req(o.URL, "img"))
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if index.Load() != 0 {
				t.Fatal("the directory index was fetched")
			}
			e.assertClean()
			if en := e.entries(); len(en) != 1 || en[0].Result != "not_found" {
				t.Fatalf("journal = %+v", en)
			}
		})
	}
	// A redirect that changes more than the slash is followed as before.
	leakCheck(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/img/index.html" {
			_, _ = w.Write([]byte("page"))
			return
		}
		http.Redirect(w, r, "/img/index.html", http.StatusMovedPermanently)
	})
	e := newEnv(t, targets[0].open(t), nil)
	if _, err := e.fill(context.Background(), e.req(o.URL, "img")); err != nil {
		t.Fatal(err)
	}
	if got := string(e.stored("img")); got != "page" {
		t.Fatalf("stored %q", got)
	}
}

// Same-host redirects are followed (10 hops is the limit, inclusive),
// cross-host ones when allowed, without credentials; the object is stored
// under the requested key.
func TestRedirectFollowed(t *testing.T) {
	leakCheck(t)
	var otherAuth, otherCookie, otherKeep, finalAuth atomic.Value
	other := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		otherAuth.Store(r.Header.Get("Authorization"))
		otherCookie.Store(r.Header.Get("Cookie"))
		otherKeep.Store(r.Header.Get("X-Keep"))
		http.Redirect(w, r, strings.Replace(r.URL.Query().Get("back"), "ORIGIN", "origin.test", 1), http.StatusTemporaryRedirect)
	})
	var port string
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		switch {
		case r.URL.Path == "/chain" && n < 10:
			http.Redirect(w, r, fmt.Sprintf("/chain?n=%d", n+1), http.StatusMovedPermanently)
		case r.URL.Path == "/cross":
			http.Redirect(w, r, "http://other.test:"+otherPort(other)+"/hop?back=http://ORIGIN:"+port+"/final", http.StatusFound)
		default:
			finalAuth.Store(r.Header.Get("Authorization"))
			_, _ = w.Write([]byte("final " + r.URL.Path))
		}
	})
	_, port, _ = net.SplitHostPort(strings.TrimPrefix(o.URL, "http://"))
	e := newEnv(t, targets[0].open(t), func(op *Options) {
		op.AllowPrivateRedirects = true
		op.mapAddr = mapHosts(map[string]string{
			"origin.test:" + port:            "127.0.0.1:" + port,
			"other.test:" + otherPort(other): "127.0.0.1:" + otherPort(other),
		})
	})
	e.m.originRequest = passThroughOriginRequest
	base := "http://origin.test:" + port
	if _, err := e.fill(context.Background(), e.req(base, "chain")); err != nil {
		t.Fatalf("10 redirects: %v", err)
	}
	if got := string(e.stored("chain")); got != "final /chain" || o.hits.Load() != 11 {
		t.Fatalf("stored %q after %d requests", got, o.hits.Load())
	}
	req := e.req(base, "cross")
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Cookie", "session=1")
	req.Header.Set("X-Keep", "yes")
	if _, err := e.fill(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if otherAuth.Load() != "" || otherCookie.Load() != "" || otherKeep.Load() != "yes" {
		t.Fatalf("other host saw Authorization %q Cookie %q X-Keep %q", otherAuth.Load(), otherCookie.Load(), otherKeep.Load())
	}
	if finalAuth.Load() != "Bearer secret" {
		t.Fatalf("back on the origin host, Authorization = %q", finalAuth.Load())
	}
	if got := string(e.stored("cross")); got != "final /final" {
		t.Fatalf("stored %q", got)
	}
}

func otherPort(o *origin) string {
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(o.URL, "http://"))
	return p
}

// follow_redirects: false passes the 3xx through and stores nothing.
func TestRedirectNotFollowed(t *testing.T) {
	leakCheck(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://cdn.example.com/new", http.StatusMovedPermanently)
	})
	e := newEnv(t, targets[0].open(t), nil)
	req := e.req(o.URL, "k")
	req.Rules.Rules[0].FollowRedirects = false
	_, err := e.m.Get(context.Background(), req)
	var re *RedirectError
	if !errors.As(err, &re) || re.Status != 301 || re.Location != "https://cdn.example.com/new" {
		t.Fatalf("err = %v", err)
	}
	e.assertClean()
	if en := e.entries(); len(en) != 1 || en[0].Result != "redirect" || en[0].Status != 301 {
		t.Fatalf("journal = %+v", en)
	}
}

// An origin that refuses connections is a network failure.
func TestOriginDown(t *testing.T) {
	leakCheck(t)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	url := o.URL
	o.Close()
	e := newEnv(t, targets[0].open(t), nil)
	_, err := e.fill(context.Background(), e.req(url, "k"))
	if got := failedReason(err); got != "network" {
		t.Fatalf("err %v (reason %q)", err, got)
	}
	e.assertClean()
}

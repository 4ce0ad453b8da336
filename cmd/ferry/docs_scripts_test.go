package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/internal/freeport"
	"github.com/ferry-migrate/ferry/internal/miniotest"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestDocScripts runs testdata/docs: one script per document, each running
// the commands that document shows (paths, URLs and ports adapted to the
// sandbox) and checking what the document says about them.
//
// Each script gets an isolated XDG_CONFIG_HOME and an HTTP origin, $ORIGIN,
// that serves the files of $WORK/www, or of $WORK/vhost when the request's
// Host is www.example.com (a web server with a virtual host, for the "origin
// given by IP with set: Host" examples). $ORIGIN_REQUESTS names a file that
// holds the number of requests the origin answered; while $WORK/.origin-down
// exists, the origin answers every request 503. A script that contains a
// $REPO is the repository root (for files the docs point at, such as
// deploy/). A script that contains a file named .minio also gets $S3_TARGET, a fresh bucket on the MinIO test
// server.
func TestDocScripts(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "docs"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "xdg"))
			// A -race binary sleeps 1s at exit by default.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			counter := filepath.Join(env.WorkDir, ".origin-requests")
			origin := httptest.NewServer(docOrigin(env.WorkDir, counter))
			env.Defer(origin.Close)
			env.Setenv("ORIGIN", origin.URL)
			env.Setenv("ORIGIN_REQUESTS", counter)
			env.Setenv("REPO", repo)
			if _, err := os.Stat(filepath.Join(env.WorkDir, ".minio")); err == nil {
				s := miniotest.Get(t)
				env.Setenv("S3_TARGET", s.BucketURL(t))
				env.Setenv("AWS_ACCESS_KEY_ID", miniotest.AccessKey)
				env.Setenv("AWS_SECRET_ACCESS_KEY", miniotest.SecretKey)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exit":     cmdExit,
			"freeport": cmdFreePort,
			"httpget":  cmdHTTPGet,
			"cmpjson":  cmdCmpJSON,
		},
	})
}

// docOrigin is a web server with two virtual hosts: www.example.com serves
// dir/vhost, any other Host dir/www. It counts the requests in counter and
// answers 503 while dir/.origin-down exists.
func docOrigin(dir, counter string) http.Handler {
	www := http.FileServer(http.Dir(filepath.Join(dir, "www")))
	vhost := http.FileServer(http.Dir(filepath.Join(dir, "vhost")))
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		os.WriteFile(counter, []byte(strconv.FormatInt(n.Add(1), 10)+"\n"), 0o644)
		if _, err := os.Stat(filepath.Join(dir, ".origin-down")); err == nil {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if r.Host == "www.example.com" {
			vhost.ServeHTTP(w, r)
			return
		}
		www.ServeHTTP(w, r)
	})
}

// cmdFreePort runs "freeport VAR...": each VAR is set to a distinct free TCP
// port on 127.0.0.1.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: freeport VAR...")
	}
	// Distinct ports outside the kernel's ephemeral range, which other
	// processes' binds to port 0 draw from (freeport says why).
	ports, err := freeport.Ports(len(args))
	ts.Check(err)
	for i, name := range args {
		ts.Setenv(name, strconv.Itoa(ports[i]))
	}
}

// cmdCmpJSON runs "cmpjson A B": the files hold the same JSON value, however
// laid out (docs show JSON compactly, ferry indents it).
func cmdCmpJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cmpjson A B")
	}
	var a, b any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &a))
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &b))
	if eq := reflect.DeepEqual(a, b); eq == neg {
		ts.Fatalf("%s and %s: equal JSON %v, want %v", args[0], args[1], eq, !neg)
	}
}

// cmdHTTPGet runs "httpget [-X METHOD] [-H 'Name: value']... [-want STATUS]
// [-match REGEXP] URL", like curl -s -D -: it prints the status line, the
// response headers (sorted, one "Name: value" a line), an empty line and the
// body. It waits up to 10 s for the server to accept connections, and with
// -want or -match it repeats the request until the status is STATUS and the
// output matches REGEXP (for changes a server picks up on reload).
// "! httpget" expects the request itself to fail (a reset transfer).
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	method, want := http.MethodGet, 0
	var match *regexp.Regexp
	var hdr [][2]string
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-X":
			method = args[1]
		case "-H":
			k, v, ok := strings.Cut(args[1], ":")
			if !ok {
				ts.Fatalf("httpget: -H %q: want 'Name: value'", args[1])
			}
			hdr = append(hdr, [2]string{k, strings.TrimSpace(v)})
		case "-match":
			re, err := regexp.Compile("(?m)" + args[1])
			ts.Check(err)
			match = re
		case "-want":
			w, err := strconv.Atoi(args[1])
			ts.Check(err)
			want = w
		default:
			ts.Fatalf("httpget: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: httpget [-X METHOD] [-H 'Name: value']... [-want STATUS] [-match REGEXP] URL")
	}
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableCompression: true, DisableKeepAlives: true},
	}
	deadline := time.Now().Add(60 * time.Second) // serve may be slow to start on a loaded machine
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		req, err := http.NewRequestWithContext(ctx, method, args[0], nil)
		ts.Check(err)
		for _, h := range hdr {
			req.Header.Set(h[0], h[1])
		}
		resp, err := client.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		cancel()
		retry := time.Now().Before(deadline)
		var text strings.Builder
		if err == nil {
			fmt.Fprintf(&text, "%s %s\n", resp.Proto, resp.Status)
			names := make([]string, 0, len(resp.Header))
			for k := range resp.Header {
				names = append(names, k)
			}
			slices.Sort(names)
			for _, k := range names {
				for _, v := range resp.Header[k] {
					fmt.Fprintf(&text, "%s: %s\n", k, v)
				}
			}
			fmt.Fprintf(&text, "\n%s", body)
		}
		matched := match == nil || match.MatchString(text.String())
		switch {
		case err != nil && errors.Is(err, syscall.ECONNREFUSED) && retry:
		case err != nil && neg:
			fmt.Fprintf(ts.Stdout(), "error: %v\n", err)
			return
		case err != nil:
			ts.Fatalf("httpget %s: %v", args[0], err)
		case (want != 0 && resp.StatusCode != want || !matched) && retry:
		default:
			if neg {
				ts.Fatalf("httpget %s: %s, want a failed transfer", args[0], resp.Status)
			}
			if want != 0 && resp.StatusCode != want || !matched {
				ts.Fatalf("httpget %s: got\n%s\nwant status %d, matching %v", args[0], text.String(), want, match)
			}
			fmt.Fprint(ts.Stdout(), text.String())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

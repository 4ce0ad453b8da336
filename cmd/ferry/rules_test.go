package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestRulesScripts runs the `ferry rules` scripts in testdata/rules. Each
// script gets an isolated XDG_CONFIG_HOME and $ORIGIN, an HTTP origin that
// serves /dir1/image/a.jpg, answers /ip/... only for Host www.example.com,
// and redirects /moved to /dir1/image/a.jpg.
func TestRulesScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "rules"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "xdg"))
			// A -race binary sleeps 1s at exit by default; each script runs
			// ferry dozens of times.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			origin := httptest.NewServer(http.HandlerFunc(testOrigin))
			env.Defer(origin.Close)
			env.Setenv("ORIGIN", origin.URL)
			_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
			env.Setenv("ORIGIN_PORT", port)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exit": cmdExit,
			"crlf": cmdCRLF,
		},
	})
}

func testOrigin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Seen-Path", r.URL.EscapedPath())
	switch p := r.URL.EscapedPath(); {
	case p == "/dir1/image/a.jpg" || p == "/dir1/a%20b%2Bc%25d%23e%3Ff":
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", "5")
		w.Header().Set("ETag", `"abc"`)
		w.Write([]byte("hello"))
	case p == "/moved":
		http.Redirect(w, r, "/dir1/image/a.jpg", http.StatusFound)
	case p == "/ip/a.jpg" && r.Host == "www.example.com":
		w.Header().Set("Content-Length", "2")
		w.Write([]byte("ok"))
	default:
		http.NotFound(w, r)
	}
}

// cmdExit runs "exit N ferry args..." and requires exit status N, so scripts
// can tell a usage error (2) from a fatal one (1).
func cmdExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exit N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exit: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exit: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// cmdCRLF runs "crlf SRC DST": DST is SRC with CRLF line endings and no
// final newline (which txtar files cannot hold).
func cmdCRLF(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: crlf SRC DST")
	}
	s := strings.TrimSuffix(ts.ReadFile(args[0]), "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(s), 0o644))
}

package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// asFerryEnv set to 1 makes this test binary run as ferry itself, so a
// test can start real ferry processes (and kill them).
const asFerryEnv = "FERRY_TEST_AS_FERRY"

// TestMain lets testscript run this test binary as the "ferry" command in
// the scripts under testdata/ (see rules_test.go), and tests start it as
// ferry processes with asFerryEnv; otherwise it runs the tests as usual.
func TestMain(m *testing.M) {
	if os.Getenv(asFerryEnv) == "1" { // a ferry process started by a test (ferryProcess)
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testscript.Main(m, map[string]func(){
		"ferry": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

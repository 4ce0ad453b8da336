package azuritetest

import (
	"os"
	"strings"
	"testing"
)

// .ci/run installs the Azurite this package looks for.
func TestVersionMatchesCI(t *testing.T) {
	run, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(run), "\nAZURITE_VERSION="+Version+"\n") {
		t.Errorf(".ci/run does not install Azurite %s (azuritetest.Version)", Version)
	}
}

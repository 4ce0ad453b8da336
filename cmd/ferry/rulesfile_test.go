package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeReloadsRulesFile is the Kubernetes path: the config file is
// read-only (a ConfigMap) and names a rules_file on a writable volume;
// removing the rules writes that file, and a running serve picks it up
// without a restart while the config file stays as it was.
func TestServeReloadsRulesFile(t *testing.T) {
	dir := isolate(t)
	dataAddr, _ := freeAddr()
	adminAddr, _ := freeAddr()
	conf := filepath.Join(dir, "conf", "ferry.yaml")
	content := fmt.Sprintf(`target: %s
state_dir: %s
rules_file: %s
serve:
  listen: %s
  admin_listen: %s
  reload_interval: 100ms
  access_log: false
rules:
  - origin: http://127.0.0.1:1/
`, filepath.Join(dir, "tgt"), filepath.Join(dir, "state"), filepath.Join(dir, "state", "rules.yaml"), dataAddr, adminAddr)
	writeFile(t, conf, content)
	if err := os.Chmod(conf, 0o444); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serveOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"serve", "--config", conf}, strings.NewReader(""), &serveOut, &serveOut)
	}()
	if err := waitHTTP(ctx, "http://"+adminAddr+"/readyz", done, nil); err != nil {
		t.Fatalf("%v\n%s", err, serveOut.String())
	}
	rulesLoaded := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			n, err := metricValue(ctx, "http://"+adminAddr+"/metrics", "ferry_serve_rules")
			if err == nil && n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ferry_serve_rules is not %v after 20s (%v, %v)", want, n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rulesLoaded(1) // the config file's rules, while the rules_file does not exist

	var out, errb bytes.Buffer
	if code := run([]string{"rules", "clear", "--yes", "--config", conf}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("rules clear: exit %d: %s%s", code, out.String(), errb.String())
	}
	rulesLoaded(0)
	if data, _ := os.ReadFile(conf); string(data) != content {
		t.Errorf("the read-only config file changed:\n%s", data)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d:\n%s", code, serveOut.String())
	}
}

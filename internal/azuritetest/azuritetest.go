// Package azuritetest starts a real Azure Blob Storage emulator (Azurite)
// for integration tests of azblob:// targets.
//
// One server is started lazily per test binary on a free loopback port,
// keeping its data in memory; Stop (call it from TestMain) ends it, and it
// dies with the test binary in any case. The blob service is found in
// $AZURITE_BLOB_BIN, as azurite-blob in $PATH, or in the cache directory
// where .ci/run installs it (CacheBin). When it is missing, tests skip,
// except with CI=true, where they fail: CI must never silently skip the
// Azure suite.
package azuritetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/ferry-migrate/ferry/internal/freeport"
	"github.com/ferry-migrate/ferry/internal/miniotest"
)

// The emulator's development account and its well-known key (public, the
// same in every Azurite), exported into the process environment so that
// store.Open picks them up as gocloud's azureblob does.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Version is the Azurite release .ci/run installs (npm package azurite).
const Version = "3.37.0"

// Server is a running Azurite blob service.
type Server struct {
	Addr   string // 127.0.0.1:PORT
	dir    string
	cmd    *exec.Cmd
	client *azblob.Client
	seq    atomic.Int64
}

var (
	once    sync.Once
	mu      sync.Mutex
	shared  *Server
	initErr error
)

// CacheBin is where .ci/run installs azurite-blob:
// $XDG_CACHE_HOME (or ~/.cache)/ferry/azurite-VERSION/node_modules/.bin.
func CacheBin() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "ferry", "azurite-"+Version, "node_modules", ".bin", "azurite-blob")
}

// Binary returns the path of azurite-blob or an error saying how to get it.
func Binary() (string, error) {
	if p := os.Getenv("AZURITE_BLOB_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, nil
	}
	if p := CacheBin(); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("azurite-blob not found: run .ci/run (it installs it), `npm install --prefix %s azurite@%s`, or set AZURITE_BLOB_BIN",
		filepath.Dir(filepath.Dir(filepath.Dir(CacheBin()))), Version)
}

// Get returns the shared server, starting it on first use. It skips the test
// when Azurite is unavailable, or fails it when CI=true.
func Get(t testing.TB) *Server {
	t.Helper()
	once.Do(func() {
		s, err := start()
		mu.Lock()
		shared, initErr = s, err
		mu.Unlock()
	})
	if initErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Azurite is required in CI: %v", initErr)
		}
		t.Skipf("Azurite not available: %v", initErr)
	}
	return shared
}

// Stop ends the shared server, if one was started.
func Stop() {
	mu.Lock()
	s := shared
	shared = nil
	mu.Unlock()
	if s != nil {
		s.stop()
	}
}

func start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	cred, err := azblob.NewSharedKeyCredential(Account, Key)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir, err := os.MkdirTemp("", "ferry-azurite-")
		if err != nil {
			return nil, err
		}
		port, err := freeport.Port() // outside the kernel's ephemeral range (freeport says why)
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir}
		if lastErr = s.launch(bin); lastErr != nil {
			_ = os.RemoveAll(dir)
			continue
		}
		if s.client, err = azblob.NewClientWithSharedKeyCredential("http://"+s.Addr+"/"+Account, cred, nil); err != nil {
			s.stop()
			return nil, err
		}
		// store.Open reads the account from the environment, as gocloud does.
		os.Setenv("AZURE_STORAGE_ACCOUNT", Account)
		os.Setenv("AZURE_STORAGE_KEY", Key)
		return s, nil
	}
	return nil, fmt.Errorf("azurite did not start: %v", lastErr)
}

// launch runs the blob service on s.Addr and waits until it answers.
func (s *Server) launch(bin string) error {
	host, port, _ := net.SplitHostPort(s.Addr)
	// --skipApiVersionCheck: the Go SDK may speak a newer API version than
	// this Azurite knows; --disableProductStyleUrl: the account is the
	// first path segment, whatever the Host (a proxy in front).
	cmd := exec.Command(bin, "--inMemoryPersistence", "--blobHost", host, "--blobPort", port,
		"--skipApiVersionCheck", "--disableProductStyleUrl")
	cmd.Dir = s.dir
	logf, err := os.Create(filepath.Join(s.dir, "azurite.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := miniotest.StartChild(cmd); err != nil {
		return err
	}
	// No goroutine waits for the process (leak checks of the tests would
	// count it): a start that fails shows in the log ("Exit due to ...").
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Any answer (403 without credentials) means it is serving.
		resp, err := probe.Get("http://" + s.Addr + "/" + Account + "?comp=list")
		if err == nil {
			resp.Body.Close()
			s.cmd = cmd
			return nil
		}
		log, _ := os.ReadFile(filepath.Join(s.dir, "azurite.log"))
		if strings.Contains(string(log), "Exit due to") || time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("azurite on %s did not start: %s", s.Addr, strings.TrimSpace(string(log)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	_ = os.RemoveAll(s.dir)
}

// NewContainer creates a fresh container and returns its name.
func (s *Server) NewContainer(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, s.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client.CreateContainer(ctx, name, nil); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	return name
}

// DeleteContainer removes a container and everything in it.
func (s *Server) DeleteContainer(t testing.TB, name string) {
	t.Helper()
	if _, err := s.client.DeleteContainer(context.Background(), name, nil); err != nil {
		t.Fatalf("delete container %s: %v", name, err)
	}
}

// URL returns the ferry/store URL of container (optionally with a prefix).
func (s *Server) URL(container, prefix string) string { return URLAt(s.Addr, container, prefix) }

// ContainerURL creates a fresh container and returns its URL.
func (s *Server) ContainerURL(t testing.TB) string { return s.URL(s.NewContainer(t), "") }

// URLAt returns the store URL of container on an Azurite (or a proxy in
// front of one) at addr (host:port).
func URLAt(addr, container, prefix string) string {
	u := "azblob://" + container
	if prefix != "" {
		u += "/" + strings.Trim(prefix, "/")
	}
	return u + "?protocol=http&localemu=true&domain=" + url.QueryEscape(addr)
}

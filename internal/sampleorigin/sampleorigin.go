// Package sampleorigin is a live origin for the demo and the end-to-end
// tests: a directory served over HTTP on loopback that keeps producing new
// files, with failure injection and request counting.
package sampleorigin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Origin serves Dir at URL. Files appear atomically (written next to Dir,
// then renamed in), so neither HTTP clients nor directory listings ever see a
// partial file.
type Origin struct {
	Dir string // the served directory (a listable origin: file://Dir)
	URL string // http://127.0.0.1:PORT/

	tmp      string
	srv      *http.Server
	requests atomic.Int64

	mu      sync.Mutex
	fail    func(key string) int     // status to answer instead, 0 = serve
	latency time.Duration            // delay before answering
	holds   map[string]chan struct{} // keys whose body stops halfway until released
	seq     int
	written []string
}

// Start serves dir (created if missing) on a free loopback port.
func Start(dir string) (*Origin, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+"-incoming")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o := &Origin{Dir: dir, tmp: tmp, URL: "http://" + l.Addr().String() + "/"}
	files := http.FileServer(http.Dir(dir))
	o.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.requests.Add(1)
			key := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
			o.mu.Lock()
			fail, latency := o.fail, o.latency
			o.mu.Unlock()
			if latency > 0 {
				time.Sleep(latency)
			}
			if fail != nil {
				if st := fail(key); st != 0 {
					http.Error(w, "injected failure", st)
					return
				}
			}
			if strings.HasSuffix(r.URL.Path, "/") {
				http.NotFound(w, r) // no directory listings: this is an object origin
				return
			}
			if gate := o.held(key); gate != nil {
				o.serveHeld(w, r, key, gate)
				return
			}
			files.ServeHTTP(w, r)
		}),
	}
	go func() { _ = o.srv.Serve(l) }()
	return o, nil
}

// Close stops the HTTP server.
func (o *Origin) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := o.srv.Shutdown(ctx)
	_ = os.RemoveAll(o.tmp)
	return err
}

// Requests is the number of HTTP requests the origin has received.
func (o *Origin) Requests() int64 { return o.requests.Load() }

// FailWith makes the origin answer status for keys where f returns true
// (nil turns injection off).
func (o *Origin) FailWith(f func(key string) bool, status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if f == nil {
		o.fail = nil
		return
	}
	o.fail = func(key string) int {
		if f(key) {
			return status
		}
		return 0
	}
}

// SetLatency delays every answer by d (0 turns it off), like a slow origin.
func (o *Origin) SetLatency(d time.Duration) {
	o.mu.Lock()
	o.latency = d
	o.mu.Unlock()
}

// Hold makes the origin answer a GET for key with its headers and the first
// half of its body, then wait until release is called (or the client goes
// away) before sending the rest: a fill of key stays in flight for as long
// as the caller needs, without depending on timing. release is idempotent.
func (o *Origin) Hold(key string) (release func()) {
	gate := make(chan struct{})
	o.mu.Lock()
	if o.holds == nil {
		o.holds = map[string]chan struct{}{}
	}
	o.holds[key] = gate
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			delete(o.holds, key)
			o.mu.Unlock()
			close(gate)
		})
	}
}

func (o *Origin) held(key string) chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.holds[key]
}

// serveHeld sends key's headers and half its body, waits for gate, then
// sends the rest.
func (o *Origin) serveHeld(w http.ResponseWriter, r *http.Request, key string, gate <-chan struct{}) {
	body, err := os.ReadFile(filepath.Join(o.Dir, filepath.FromSlash(key)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	half := len(body) / 2
	_, _ = w.Write(body[:half])
	http.NewResponseController(w).Flush()
	select {
	case <-gate:
	case <-r.Context().Done():
		return
	}
	_, _ = w.Write(body[half:])
}

// Content is the deterministic content of a sample file.
func Content(key string, size int) []byte {
	b := make([]byte, 0, size)
	seed := sha256.Sum256([]byte(key))
	for len(b) < size {
		b = append(b, seed[:]...)
		seed = sha256.Sum256(seed[:])
	}
	return b[:size]
}

// Put writes key atomically with the sample content of size bytes.
func (o *Origin) Put(key string, size int) error {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return fmt.Errorf("bad sample key %q", key)
	}
	dst := filepath.Join(o.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(o.tmp, "put-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(Content(key, size)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return err
	}
	o.mu.Lock()
	o.written = append(o.written, key)
	o.mu.Unlock()
	return nil
}

// Generate writes n sample files under prefix (prefix/000000.dat, ...) of
// sizes between 1 and maxSize bytes and returns their keys.
func (o *Origin) Generate(prefix string, n, maxSize int) ([]string, error) {
	keys := make([]string, 0, n)
	for i := 0; i < n; i++ {
		o.mu.Lock()
		o.seq++
		seq := o.seq
		o.mu.Unlock()
		key := fmt.Sprintf("%s%06d.dat", prefix, seq)
		size := 1 + (seq*7919)%maxSize
		if err := o.Put(key, size); err != nil {
			return keys, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// Produce keeps writing one new file under prefix every interval until ctx
// is done, like an application that keeps uploading. It returns when ctx is
// done.
func (o *Origin) Produce(ctx context.Context, prefix string, every time.Duration, maxSize int) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := o.Generate(prefix, 1, maxSize); err != nil {
				return err
			}
		}
	}
}

// Keys returns every key the origin holds, sorted.
func (o *Origin) Keys() ([]string, error) {
	var keys []string
	err := filepath.WalkDir(o.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(o.Dir, p)
		if err != nil {
			return err
		}
		keys = append(keys, filepath.ToSlash(rel))
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	sort.Strings(keys)
	return keys, err
}

// Written returns the keys written through Put/Generate/Produce, in order.
func (o *Origin) Written() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.written...)
}

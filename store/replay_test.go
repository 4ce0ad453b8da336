package store

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// lossyServer answers the first n requests of each connection and reads the
// next one whole, then closes the connection without an answer: what a
// server that closes idle keep-alive connections does to a request sent
// just as it closes. It records the bodies it read.
type lossyServer struct {
	ln     net.Listener
	n      int
	mu     sync.Mutex
	bodies []string
}

func newLossyServer(t *testing.T, n int) *lossyServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lossyServer{ln: ln, n: n}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *lossyServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; ; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		if i >= s.n {
			return // lost: closed without an answer
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

func (s *lossyServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func post(c *http.Client, url, body string) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// TestReplayLostRequest: a POST that a kept-alive connection lost (the
// server closed it without an answer) is sent again once on a new
// connection, with its body; Go's own transport gives up on it.
func TestReplayLostRequest(t *testing.T) {
	s := newLossyServer(t, 1)
	url := "http://" + s.ln.Addr().String() + "/b/k?uploads="

	plain := &http.Client{Transport: &http.Transport{}}
	if err := post(plain, url, "one"); err != nil {
		t.Fatal(err)
	}
	if err := post(plain, url, "two"); err == nil {
		t.Fatal("the plain transport's POST on the lost connection succeeded: the server does not lose it")
	}

	c := httpClient()
	if err := post(c, url, "three"); err != nil {
		t.Fatal(err)
	}
	if err := post(c, url, "four"); err != nil {
		t.Fatalf("the lost POST was not sent again: %v", err)
	}
	got := s.seen()
	if want := []string{"one", "two", "three", "four", "four"}; !slices.Equal(got, want) {
		t.Fatalf("server read %q, want %q", got, want)
	}
}

// TestNoReplayOnNewConnection: a request that failed on a new connection
// (the server is down or refuses it) is not sent again.
func TestNoReplayOnNewConnection(t *testing.T) {
	s := newLossyServer(t, 0)
	err := post(httpClient(), "http://"+s.ln.Addr().String()+"/b/k", "once")
	if err == nil {
		t.Fatal("POST succeeded")
	}
	if got := s.seen(); !slices.Equal(got, []string{"once"}) {
		t.Fatalf("server read %q, want one request", got)
	}
}

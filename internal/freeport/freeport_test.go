package freeport

import (
	"net"
	"strconv"
	"testing"
)

// The ports of one call, and of calls one after another, are distinct,
// below the kernel's ephemeral range, and free: each can be bound once
// returned.
func TestPorts(t *testing.T) {
	hi := ephemeralStart()
	ports, err := Ports(20)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d picked twice", p)
		}
		seen[p] = true
		if hi-lowest >= 1000 && (p < lowest || p >= hi) {
			t.Errorf("port %d outside %d-%d", p, lowest, hi-1)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d is not free: %v", p, err)
			continue
		}
		l.Close()
	}
}

// Package freeport picks TCP ports on 127.0.0.1 for servers started as
// processes of their own (MinIO, Azurite, nginx, ferry serve in the demo and
// the tests), which must be told their port before they bind it.
//
// A port found by listening on port 0 and closing the listener comes from
// the kernel's ephemeral range, the range that every other bind to port 0
// and every outgoing connection draws from: on a busy machine, with test
// packages running side by side, another process can take it in the moment
// before the server binds it, and the server's client then talks to a
// stranger. Ports picked here lie below that range
// (net.ipv4.ip_local_port_range), which the kernel never hands out by
// itself; a pick binds the port to make sure it is free, and a process is
// never given the same port twice, so ports picked one call after another
// are distinct too.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the bottom of the range ports are picked from: above the
// well-known and most registered service ports.
const lowest = 10000

// Ports returns n distinct TCP ports on 127.0.0.1 that were free just now.
func Ports(n int) ([]int, error) {
	hi := ephemeralStart()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := pick(hi)
		if err != nil {
			return nil, err
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		l.Close() // pick never gives this port again
	}
	return ports, nil
}

// Port returns one TCP port on 127.0.0.1 that was free just now.
func Port() (int, error) {
	p, err := Ports(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// Addr returns "127.0.0.1:PORT" with a port that was free just now.
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// given holds the ports this process has been given.
var given struct {
	sync.Mutex
	ports map[int]bool
}

// pick binds a random port in [lowest, hi) that this process was not given
// before, or one of the kernel's when that range is empty (a system whose
// ephemeral range starts low).
func pick(hi int) (net.Listener, error) {
	given.Lock()
	defer given.Unlock()
	if given.ports == nil {
		given.ports = map[int]bool{}
	}
	var last error
	for range 200 {
		p := 0 // the kernel's choice
		if hi-lowest >= 1000 {
			p = lowest + rand.IntN(hi-lowest)
		}
		if given.ports[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			last = err
			continue
		}
		if p = l.Addr().(*net.TCPAddr).Port; given.ports[p] {
			l.Close()
			continue
		}
		given.ports[p] = true
		return l, nil
	}
	return nil, fmt.Errorf("freeport: no free port in %d-%d: %w", lowest, hi-1, last)
}

// ephemeralStart is the first port of the kernel's ephemeral range:
// Linux's ip_local_port_range, else IANA's 49152.
func ephemeralStart() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 49152
	}
	lo, err := strconv.Atoi(strings.Fields(string(data) + " x")[0])
	if err != nil || lo <= 0 {
		return 49152
	}
	return lo
}

package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// errBlockedAddress is wrapped by dial errors for redirect targets whose
// resolved address is not public.
var errBlockedAddress = errors.New("address not allowed for a redirect")

// blockedPrefixes are refused for redirected hosts in addition to what the
// netip predicates cover.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64, IPv4 embedded
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4, IPv4 embedded
	netip.MustParsePrefix("2001::/32"),       // Teredo, IPv4 embedded
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

// publicAddr reports whether a redirect may connect to ip: no loopback,
// private, link-local, CGNAT, unspecified, multicast or IPv4-embedded IPv6
// address.
func publicAddr(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	if ip.Is4In6() {
		return false // ::ffff:a.b.c.d reaches an IPv4 address; refuse it outright
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// guardControl is a net.Dialer Control func: it sees the address actually
// being connected to (after DNS), so DNS rebinding cannot bypass it.
func guardControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errBlockedAddress, address, err)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", errBlockedAddress, ap.Addr())
	}
	return nil
}

// dialFunc is the DialContext of a transport.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// newDial returns the dial func of a transport. guarded dialers refuse
// non-public addresses at connect time. mapAddr (tests only) rewrites the
// host:port before dialing, standing in for a resolver.
func newDial(timeout time.Duration, guarded bool, mapAddr func(string) string) dialFunc {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if guarded {
		d.Control = guardControl
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if mapAddr != nil {
			addr = mapAddr(addr)
		}
		return d.DialContext(ctx, network, addr)
	}
}

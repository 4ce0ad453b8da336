package serve

import (
	"errors"
	"net"
	"strings"
)

// CheckListen checks a listen address (Options.Listen, AdminListen):
// host:port with a port number or service name; "" passes.
func CheckListen(s string) error {
	if s == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return errors.New("is not host:port, such as :8080 or 127.0.0.1:8080")
	}
	return nil
}

// CheckVia checks a Via token (Options.Via): one token, no spaces or
// commas.
func CheckVia(s string) error {
	if strings.ContainsAny(s, " ,\t") {
		return errors.New("must be one token (no spaces or commas)")
	}
	return nil
}

package cliconf

import (
	"fmt"
	"os"
	"path/filepath"
)

// Find returns the config file to use: the explicit one (--config, which
// must exist), else the first of ./ferry.yaml,
// $XDG_CONFIG_HOME/ferry/ferry.yaml (default ~/.config) and
// /etc/ferry/ferry.yaml that exists, else "". Errors are *Error.
func Find(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", &Error{Msg: fmt.Sprintf("config file %s: %v", explicit, PathError(err))}
		}
		return explicit, nil
	}
	candidates := []string{"ferry.yaml"}
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		candidates = append(candidates, filepath.Join(xdg, "ferry", "ferry.yaml"))
	}
	candidates = append(candidates, "/etc/ferry/ferry.yaml")
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", nil
}

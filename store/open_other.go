//go:build !linux

package store

import "os"

// openRead is os.Open off Linux (open_linux.go says why it differs there).
func openRead(path string) (*os.File, error) { return os.Open(path) }

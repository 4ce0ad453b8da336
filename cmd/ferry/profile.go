package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
)

// The CPU profile of this process (--cpuprofile), stopped when the command
// returns, whatever it returns.
var cpuProfile struct {
	mu sync.Mutex
	f  *os.File
}

func startCPUProfile(path string) error {
	cpuProfile.mu.Lock()
	defer cpuProfile.mu.Unlock()
	if cpuProfile.f != nil {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	cpuProfile.f = f
	return nil
}

func stopCPUProfile() {
	cpuProfile.mu.Lock()
	defer cpuProfile.mu.Unlock()
	if cpuProfile.f == nil {
		return
	}
	pprof.StopCPUProfile()
	_ = cpuProfile.f.Close()
	cpuProfile.f = nil
}

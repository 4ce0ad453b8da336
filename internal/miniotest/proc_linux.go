package miniotest

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// dieWithParent makes the server exit when the test binary exits, even when
// TestMain cannot run cleanup (testscript.Main calls os.Exit itself).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

var (
	spawnOnce sync.Once
	spawns    chan spawn
)

type spawn struct {
	cmd  *exec.Cmd
	done chan<- error
}

// startCmd starts cmd from one OS thread that lives as long as the test
// binary: Pdeathsig fires when the thread that forked the child ends, not
// the process, and the Go runtime ends the thread of a locked goroutine
// that exits, which would kill a server in the middle of the tests.
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawns = make(chan spawn)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread never ends
			for s := range spawns {
				s.done <- s.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawns <- spawn{cmd, done}
	return <-done
}

package miniotest

import (
	"os/exec"
	"runtime"
	"syscall"
)

// dieWithParent makes the server exit when the test binary exits, even when
// TestMain cannot run cleanup (testscript.Main calls os.Exit itself).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// spawns feeds the one goroutine that starts servers. It starts at init,
// before any test runs, so leak checks that ignore what existed before a
// test (goleak.IgnoreCurrent) never count it.
var spawns = make(chan spawn)

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread never ends
		for s := range spawns {
			s.done <- s.cmd.Start()
		}
	}()
}

type spawn struct {
	cmd  *exec.Cmd
	done chan<- error
}

// StartChild starts cmd (a helper process of a test, like a server under
// test) so that it is killed when the test binary exits, however it exits.
func StartChild(cmd *exec.Cmd) error {
	dieWithParent(cmd)
	return startCmd(cmd)
}

// startCmd starts cmd from one OS thread that lives as long as the test
// binary: Pdeathsig fires when the thread that forked the child ends, not
// the process, and the Go runtime ends the thread of a locked goroutine
// that exits, which would kill a server in the middle of the tests.
func startCmd(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawns <- spawn{cmd, done}
	return <-done
}

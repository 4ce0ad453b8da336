package miniotest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the server exit when the test binary exits, even when
// TestMain cannot run cleanup (testscript.Main calls os.Exit itself).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package miniotest

import "os/exec"

func dieWithParent(cmd *exec.Cmd) {}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }

// StartChild starts cmd (a helper process of a test).
func StartChild(cmd *exec.Cmd) error { return cmd.Start() }

//go:build !linux

package miniotest

import "os/exec"

func dieWithParent(cmd *exec.Cmd) {}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }

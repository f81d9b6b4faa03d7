package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill a child when idpbench dies.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

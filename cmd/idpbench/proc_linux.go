package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill a child when idpbench dies, and puts
// the child in a process group of its own: Apache signals its whole group
// when it stops, which must not reach idpbench.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

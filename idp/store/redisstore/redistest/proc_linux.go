package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithParent asks the kernel to kill redis-server when the test binary
// exits without running its cleanups (a panic, a timeout, a SIGKILL).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

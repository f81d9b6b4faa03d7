package sambatest

import (
	"os/exec"
	"syscall"
)

// dieWithParent asks the kernel to kill samba when the test binary exits
// without running its cleanups.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

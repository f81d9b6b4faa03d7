//go:build !linux

package sambatest

import "os/exec"

// dieWithParent relies on samba's closed standard input where the kernel
// offers no parent-death signal.
func dieWithParent(*exec.Cmd) {}

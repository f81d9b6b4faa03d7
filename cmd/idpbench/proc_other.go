//go:build !linux

package main

import "os/exec"

// dieWithParent has no portable equivalent outside Linux (where idpbench
// cannot measure anyway: it reads /proc).
func dieWithParent(cmd *exec.Cmd) {}

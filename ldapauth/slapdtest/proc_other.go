//go:build !linux

package slapdtest

import "os/exec"

// dieWithParent has no portable equivalent outside Linux; t.Cleanup still
// stops slapd on every ordinary test exit.
func dieWithParent(cmd *exec.Cmd) {}

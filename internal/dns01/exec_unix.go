//go:build unix

package dns01

import (
	"os/exec"
	"syscall"
)

// killGroup makes cmd run in a process group of its own, and its
// cancellation (the timeout) kill the whole group: a hook's children
// (nsupdate under a script) must not change the zone after the failure
// was reported, nor pile up.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

package testenv

import "syscall"

// childAttr makes a child process receive SIGKILL when the test binary
// dies, so a crashed or timed-out run leaves no broker behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

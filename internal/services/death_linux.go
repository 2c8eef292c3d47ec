package services

import "syscall"

// setDeathSignal asks the kernel to send sig to the child when the thread
// that started it exits. The Go runtime ends a thread only when a goroutine
// locked to it (runtime.LockOSThread) returns without unlocking; nothing here
// does that, and a caller that does could see its server signalled early.
func setDeathSignal(a *syscall.SysProcAttr, sig syscall.Signal) {
	a.Pdeathsig = sig
}

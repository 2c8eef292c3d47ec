//go:build !linux

package services

import "syscall"

// setDeathSignal does nothing where the kernel offers no parent-death signal.
func setDeathSignal(*syscall.SysProcAttr, syscall.Signal) {}

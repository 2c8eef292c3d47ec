//go:build !linux

package testenv

import "syscall"

// childAttr returns no special attributes where the kernel offers no
// parent-death signal.
func childAttr() *syscall.SysProcAttr { return nil }

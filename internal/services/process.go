package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cdcflow/cdcflow/backpressure"
)

// process is one child server, the leader of a process group of its own.
// One goroutine waits for it to exit.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned
	err  error         // cmd.Wait's result, set before done is closed
}

// startProcess starts cmd in its own process group with its output appended
// to logPath. Where the platform allows, the child receives deathSig when the
// calling process dies, so a crashed test run leaves no server behind. The
// caller owns the returned process and must stop or kill it.
func startProcess(cmd *exec.Cmd, logPath string, deathSig syscall.Signal) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setDeathSignal(cmd.SysProcAttr, deathSig)
	err = cmd.Start()
	f.Close() // the child has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the child alone.
func (p *process) signal(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal pid %d: %w", p.cmd.Process.Pid, err)
	}
	return nil
}

// kill sends SIGKILL to the child, its process group and every descendant,
// then waits until all of them are gone, so a restarted server finds no
// survivor holding its shared memory, port or files. Descendants need their
// own signal: PostgreSQL backends call setsid and leave the group.
func (p *process) kill(ctx context.Context) error {
	pid := p.cmd.Process.Pid
	if p.exited() {
		return p.waitGone(ctx, nil)
	}
	// Stopped, the child cannot fork while we list its descendants.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	kids := descendants(pid)
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	for _, k := range kids {
		if err := syscall.Kill(k, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill pid %d, a child of %d: %w", k, pid, err)
		}
	}
	return p.waitGone(ctx, kids)
}

// waitGone waits until the child has exited and neither a member of its
// process group nor any of pids is alive. Orphaned children are reparented
// to PID 1, which may leave them as zombies; a zombie holds nothing, so it
// counts as gone.
func (p *process) waitGone(ctx context.Context, pids []int) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("wait for pid %d to exit: %w", p.cmd.Process.Pid, ctx.Err())
	}
	err := poll(ctx, func() (bool, error) {
		for _, s := range processes() {
			if s.state == "Z" || s.state == "X" {
				continue
			}
			if s.pgrp == p.cmd.Process.Pid || slices.Contains(pids, s.pid) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the processes of pid %d to exit: %w", p.cmd.Process.Pid, err)
	}
	return nil
}

// procStat is what we read of a process from /proc/PID/stat.
type procStat struct {
	pid, ppid, pgrp int
	state           string
}

// processes lists the processes of this machine (of this PID namespace).
func processes() []procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var ps []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// The command name is parenthesised and may hold spaces; the fields
		// after its closing parenthesis are: state ppid pgrp ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		ps = append(ps, procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0]})
	}
	return ps
}

// descendants returns the pids of every living descendant of pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	for _, s := range processes() {
		if s.state != "Z" && s.state != "X" {
			children[s.ppid] = append(children[s.ppid], s.pid)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		out = append(out, children[next]...)
		queue = append(queue, children[next]...)
	}
	return out
}

// poll calls cond with a growing pause (5ms doubling up to 200ms) until it
// returns true or an error, or ctx ends.
func poll(ctx context.Context, cond func() (bool, error)) error {
	pause := backpressure.Backoff{Initial: 5 * time.Millisecond, Max: 200 * time.Millisecond, Floor: 1}
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if pause.Wait(ctx, nil) != nil {
			return ctx.Err()
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// caller must be ready for another process to take it first.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// logTail returns the last lines of the file at path, for error messages.
func logTail(path string) string {
	const maxBytes = 4 << 10
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimSpace(string(b))
}

// childEnv is the environment of a child server: enough to run, and no PG*
// or REDIS* variable of ours that could point it elsewhere.
func childEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C", "LC_ALL=C", "TZ=UTC"}
}

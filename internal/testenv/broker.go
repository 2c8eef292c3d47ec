package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/backpressure"
)

// Broker is a "cdcflow broker" subprocess, for tests that must kill the
// broker as a crash would. Its methods are safe for concurrent use; those
// taking a testing.TB must run on the test's goroutine.
type Broker struct {
	bin, dataDir, logPath, readyFile string
	port                             int

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when not running
	done chan struct{} // closed when cmd has exited
}

// BrokerProcess builds cdcflow (see Cdcflow) and runs "cdcflow broker" on
// a free port of 127.0.0.1 with --data-dir dataDir (t.TempDir when empty)
// and --sync-writes, returning once it listens. It is stopped in
// t.Cleanup, after its log is printed if the test failed.
func BrokerProcess(t testing.TB, dataDir string) *Broker {
	t.Helper()
	bin := Cdcflow(t)
	tmp := t.TempDir()
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}
	b := &Broker{
		bin:       bin,
		dataDir:   dataDir,
		logPath:   filepath.Join(tmp, "broker.log"),
		readyFile: filepath.Join(tmp, "ready"),
	}
	var err error
	// Not a backoff loop: a port another process took meanwhile is not
	// worth waiting for; a new free port is tried at once.
	for attempt := 1; attempt <= 3; attempt++ {
		if b.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if err = b.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start cdcflow broker: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(b.logPath); err == nil {
				t.Logf("cdcflow broker log %s (tail):\n%s", b.logPath, tail(log, 40))
			}
		}
		if err := b.Stop(); err != nil {
			t.Errorf("stop cdcflow broker: %v", err)
		}
	})
	return b
}

// errBrokerExited ends the wait for the ready file when the broker exits.
var errBrokerExited = errors.New("cdcflow broker exited")

// start runs the broker and waits for its ready file.
func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return errors.New("already running")
	}
	if err := os.Remove(b.readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale ready file: %w", err)
	}
	logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open broker log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(b.bin, "broker",
		"--listen", b.Addrs()[0],
		"--data-dir", b.dataDir,
		"--sync-writes=true",
		"--ready-file", b.readyFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s broker: %w", b.bin, err)
	}
	// running ends, with errBrokerExited, when the broker exits.
	running, exited := context.WithCancelCause(context.Background())
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
		exited(errBrokerExited)
	}()
	ctx, cancel := context.WithTimeout(running, 30*time.Second)
	defer cancel()
	// Poll the ready file, the pause doubling from 5ms to 100ms.
	poll := backpressure.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond, Floor: 1}
	for {
		if addr, err := os.ReadFile(b.readyFile); err == nil && strings.TrimSpace(string(addr)) == b.Addrs()[0] {
			break
		}
		if err := poll.Wait(ctx, nil); errors.Is(err, errBrokerExited) {
			log, _ := os.ReadFile(b.logPath)
			return fmt.Errorf("cdcflow broker exited (%v) before listening; log:\n%s", cmd.ProcessState, tail(log, 20))
		} else if err != nil {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("cdcflow broker did not write %s within 30s", b.readyFile)
		}
	}
	b.cmd, b.done = cmd, done
	return nil
}

// Addrs returns the broker's address; it does not change across Restart.
func (b *Broker) Addrs() []string {
	return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))}
}

// DataDir returns the broker's --data-dir.
func (b *Broker) DataDir() string { return b.dataDir }

// LogPath returns the file holding the broker's output.
func (b *Broker) LogPath() string { return b.logPath }

// Client returns a kgo client seeded with the broker's address, with
// automatic topic creation allowed and opts added; it is closed in
// t.Cleanup.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, b.Addrs(), opts)
}

// Kill sends SIGKILL to the broker, as a crash would, and waits until it
// has exited. With --sync-writes every acknowledged record is on disk. Kill
// on a stopped broker does nothing.
func (b *Broker) Kill() error {
	return b.halt(os.Kill)
}

// Stop sends SIGTERM, which makes the broker close cleanly, and waits
// until it has exited (SIGKILL after 30s). Stop on a stopped broker does
// nothing.
func (b *Broker) Stop() error {
	return b.halt(syscall.SIGTERM)
}

func (b *Broker) halt(sig os.Signal) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return nil
	}
	cmd, done := b.cmd, b.done
	b.cmd, b.done = nil, nil
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal cdcflow broker: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("cdcflow broker ignored %v for 30s; killed", sig)
	}
}

// Restart stops the broker if it runs (cleanly) and starts it again on the
// same port and data directory, returning once it listens.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.start(); err != nil {
		t.Fatalf("restart cdcflow broker: %v", err)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

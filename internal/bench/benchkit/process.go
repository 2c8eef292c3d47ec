package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/services"
)

// Process is what a reader's child process cost.
type Process struct {
	// Seconds is the wall time of the process (or of its part being measured).
	Seconds float64
	// CPU is the user + system CPU seconds of the process.
	CPU float64
	// MaxRSS is the peak resident set (VmHWM), KiB; 0 when not measured.
	MaxRSS int64
}

// DrainRecvlogical runs Debian's pg_recvlogical on slot to the end position,
// with the plugin options cdcflow's Reader uses, writing to /dev/null, and
// measures it (Timed, sampling its peak resident set).
func DrainRecvlogical(ctx context.Context, pg *services.Postgres, slot string, end capture.LSN) (Process, error) {
	cmd := exec.CommandContext(ctx, pg.Bin("pg_recvlogical"),
		"-d", pg.DSN(Database), "--slot", slot, "--start", "--no-loop",
		"--endpos", end.String(),
		"-o", "proto_version=1", "-o", "publication_names="+Publication, "-o", "messages=true",
		"-f", "/dev/null")
	cmd.Stderr = os.Stderr
	return Timed(cmd, true)
}

// Timed runs cmd and measures its wall time and CPU time. With sample set it
// also samples the process's peak resident set (SampleRSS), for a program
// that cannot report its own.
func Timed(cmd *exec.Cmd, sample bool) (Process, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	hwm := func() int64 { return 0 }
	if sample {
		hwm = SampleRSS(cmd.Process.Pid)
	}
	err := cmd.Wait()
	rss := hwm()
	if err != nil {
		return Process{}, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	return Process{
		Seconds: time.Since(start).Seconds(),
		CPU:     (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(),
		MaxRSS:  rss,
	}, nil
}

// SampleRSS samples process pid's VmHWM every few milliseconds, on a
// goroutine of its own, until the returned function is called, which stops
// it and returns the highest value seen (KiB). The peak of the process's
// last few milliseconds may be missed.
func SampleRSS(pid int) func() int64 {
	var hwm int64
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		p := strconv.Itoa(pid)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			hwm = max(hwm, PeakRSS(p))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-sampled
		return hwm
	}
}

// PeakRSS returns VmHWM (the peak resident set) of process pid ("self" for
// this one) from /proc in KiB, 0 if unknown.
func PeakRSS(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
)

// drainOptions are the child's flags.
type drainOptions struct {
	dsn, slot, publication, tables, end string
	cpuProfile                          string
	confirmInterval                     time.Duration
	bare                                bool // drainBare instead of the Reader
}

// drainResult is what the child prints on stdout.
type drainResult struct {
	Changes      int64   `json:"changes"`
	Transactions int64   `json:"transactions"`
	Seconds      float64 `json:"seconds"` // from the first message to the end position
	// Chunks is how many times the Reader called the handler: each call is
	// a goroutine hand-off.
	Chunks int64 `json:"chunks,omitempty"`
	// PeakRSS is the process's VmHWM in KiB, read from /proc/self/status at
	// the end. (getrusage's ru_maxrss would also count the parent's memory
	// at fork time, which Linux carries across exec.)
	PeakRSS int64 `json:"peak_rss_kib"`
}

// drain runs cdcflow's Reader on an existing slot until the first transaction
// committed at or after the end position, counting the changes before it.
// It confirms the last commit's end at most once per confirmInterval (0: after
// every commit), as a real consumer does when its sink acknowledges batches.
func drain(ctx context.Context, o drainOptions) error {
	end, err := capture.ParseLSN(o.end)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if o.bare {
		res, err := drainBare(ctx, o, end)
		if err != nil {
			return err
		}
		res.PeakRSS = benchkit.PeakRSS("self")
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	r, err := replication.New(replication.Config{
		DSN:               o.dsn,
		Slot:              o.slot,
		Publication:       o.publication,
		Tables:            strings.Split(o.tables, ","),
		SnapshotMode:      replication.SnapshotNever,
		HeartbeatInterval: -1, // writes nothing to the benchmark's WAL
		ApplicationName:   "cdcflow-bench",
	}, nil, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var res drainResult
	var first, confirmedAt time.Time
	reached := false
	h := func(_ context.Context, msgs []capture.Message) error {
		if first.IsZero() {
			first = time.Now()
		}
		res.Chunks++
		for _, m := range msgs {
			switch m := m.(type) {
			case *capture.Begin:
				if m.FinalLSN >= end {
					reached = true
					res.Seconds = time.Since(first).Seconds()
					cancel()
					return nil
				}
			case *capture.Change:
				if !reached {
					res.Changes++
				}
			case *capture.Commit:
				if !reached {
					res.Transactions++
				}
				if now := time.Now(); now.Sub(confirmedAt) >= o.confirmInterval {
					r.Confirm(m.EndLSN)
					confirmedAt = now
				}
			}
		}
		return nil
	}
	err = r.Run(ctx, h)
	if !reached {
		if err == nil {
			err = errors.New("reader stopped")
		}
		return fmt.Errorf("drain slot %q before the end position %s: %w", o.slot, end, err)
	}
	res.PeakRSS = benchkit.PeakRSS("self")
	return json.NewEncoder(os.Stdout).Encode(res)
}

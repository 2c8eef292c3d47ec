package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cdcflow/cdcflow/flow"
	"github.com/cdcflow/cdcflow/internal/config"
)

func TestFlowStatusLine(t *testing.T) {
	tests := []struct {
		name    string
		stats   flow.Stats
		elapsed time.Duration
		extra   string
		want    string
	}{
		{name: "before the session", elapsed: time.Second,
			want: "changes 0  events 0 (0/s)  acked 0  dead letters 0  queued 0 (0 KiB)  confirmed -"},
		{name: "streaming", elapsed: 2 * time.Second, extra: "load 7 tx | ",
			stats: flow.Stats{Changes: 12, Events: 10, DeadLetters: 1, Acked: 8, QueuedBatches: 2, QueuedBytes: 3 << 10, Streaming: true, Confirmed: 0x16B3748},
			want:  "load 7 tx | changes 12  events 10 (5/s)  acked 8  dead letters 1  queued 2 (3 KiB)  confirmed 0/16B3748"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flowStatusLine(tt.stats, tt.elapsed, tt.extra); got != tt.want {
				t.Errorf("flowStatusLine(%+v, %v, %q) = %q; want %q", tt.stats, tt.elapsed, tt.extra, got, tt.want)
			}
		})
	}
}

// On a live status line, run's log records (the logger and the line both
// write through liveStderr) are written above the line, never inside it:
// the line is erased, the record written, and the last status redrawn.
func TestFlowLineAndLogShareStderr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		stderr := liveStderr(&out, true)
		log := config.LogConfig{Level: "info"}.Logger(stderr)
		var changes atomic.Int64
		stats := func() flow.Stats { return flow.Stats{Changes: changes.Load()} }
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- showProgress(ctx, flowLine(stderr, log), stats, nil) }()
		time.Sleep(time.Second) // the first tick draws the line
		synctest.Wait()
		log.Info("slot lag high")
		changes.Store(1)
		time.Sleep(time.Second) // the second redraws it
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("showProgress = %v; want context.Canceled", err)
		}

		const erase = "\r\x1b[K"
		first := flowStatusLine(flow.Stats{}, time.Second, "")
		second := flowStatusLine(flow.Stats{Changes: 1}, 2*time.Second, "")
		got := out.String()
		rest, ok := strings.CutPrefix(got, erase+first+erase)
		if !ok {
			t.Fatalf("out = %q; want the status line erased before the record", got)
		}
		record, rest, _ := strings.Cut(rest, "\n")
		if !strings.Contains(record, "level=INFO msg=\"slot lag high\"") {
			t.Errorf("record = %q; want the log record on a line of its own", record)
		}
		if want := first + erase + second + "\n"; rest != want {
			t.Errorf("after the record: %q; want the status redrawn, then updated and ended: %q", rest, want)
		}
	})
}

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
	"github.com/cdcflow/cdcflow/internal/flowdisplay"
)

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
		go func() { done <- flowdisplay.Show(ctx, flowdisplay.Line(stderr, log), stats, nil) }()
		time.Sleep(time.Second) // the first tick draws the line
		synctest.Wait()
		log.Info("slot lag high")
		changes.Store(1)
		time.Sleep(time.Second) // the second redraws it
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Show = %v; want context.Canceled", err)
		}

		const erase = "\r\x1b[K"
		first := flowdisplay.StatusLine(flow.Stats{}, time.Second, "")
		second := flowdisplay.StatusLine(flow.Stats{Changes: 1}, 2*time.Second, "")
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

// Package flowdisplay is the live display of `cdcflow run` (and of the
// snapshot `cdcflow tail` reads): the flow's status line, from flow.Stats
// every second, and the snapshot's progress per table, drawn through
// internal/progress as a line redrawn in place on a terminal, a line
// written per interval on any other writer, or log records.
//
// It only renders: the flow and the snapshot report through flow.Stats and
// a callback, and the caller owns the writer and the logger. It never
// imports cmd, the configuration or a client library. Show is the only
// function that blocks; a snapshot display is called by one goroutine at a
// time (the snapshot's).
package flowdisplay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cdcflow/cdcflow/flow"
	"github.com/cdcflow/cdcflow/internal/progress"
)

// Line is the flow's status line: redrawn on out (a progress.Screen that
// log also writes through, so that a record never lands inside the line),
// or logged to log when out is nil.
func Line(out io.Writer, log *slog.Logger) *progress.Line {
	return progress.New(progress.Config{Out: out, Redraw: out != nil, Log: log})
}

// Show reports the flow's progress every second until ctx is done:
// on line, which redraws it in place on a terminal, or else logs it at the
// line's interval (10 s), so that a run whose stderr is a pipe or a
// container log still says what it is doing. status, when not nil, adds
// to the line (the quickstart shows its load generator there). Show blocks
// until ctx is done, ends the line and returns ctx's error.
func Show(ctx context.Context, line *progress.Line, stats func() flow.Stats, status func() string) error {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			line.End()
			return ctx.Err()
		case <-tick.C:
		}
		extra := ""
		if status != nil {
			extra = status() + " | "
		}
		s := stats()
		line.Update(progress.Report{
			Text: StatusLine(s, time.Since(start), extra),
			Msg:  "progress",
			Attrs: []slog.Attr{
				slog.Int64("changes", s.Changes), slog.Int64("events", s.Events), slog.Int64("acked", s.Acked),
				slog.Int64("dead_letters", s.DeadLetters), slog.Int64("queued_bytes", s.QueuedBytes),
				slog.String("confirmed_lsn", s.Confirmed.String()),
			},
		})
	}
}

// StatusLine is the status line for s after elapsed, prefixed by extra.
func StatusLine(s flow.Stats, elapsed time.Duration, extra string) string {
	confirmed := "-"
	if s.Streaming {
		confirmed = s.Confirmed.String()
	}
	return fmt.Sprintf("%schanges %d  events %d (%.0f/s)  acked %d  dead letters %d  queued %d (%d KiB)  confirmed %s",
		extra, s.Changes, s.Events, float64(s.Events)/elapsed.Seconds(), s.Acked,
		s.DeadLetters, s.QueuedBatches, s.QueuedBytes>>10, confirmed)
}

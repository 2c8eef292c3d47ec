package flowdisplay

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/internal/progress"
)

// Snapshot returns the snapshot's progress callback, drawn by
// internal/progress: a bar per table redrawn on a terminal (every 200ms), a
// line per report on any other w (every 10s), and "snapshot progress" Info
// records when w is nil.
func Snapshot(w io.Writer, log *slog.Logger) func(snapshot.Progress) {
	return snapshotDisplay(progress.New(progress.Config{Out: w, Log: log.With("component", "snapshot")}))
}

// snapshotDisplay shows snapshot reports on l. The interval restarts with
// each table; a table's last report is always shown on a writer (a logging
// display leaves the end to the snapshot's own "snapshot table read").
func snapshotDisplay(l *progress.Line) func(snapshot.Progress) {
	return func(p snapshot.Progress) {
		switch {
		case p.Rows == 0 && !p.Done: // a table begins
			l.Restart()
		case p.Done:
			l.Finish(snapshotReport(p, l.Redraws()))
		default:
			l.Update(snapshotReport(p, l.Redraws()))
		}
	}
}

const snapshotBarWidth = 24

// snapshotReport renders p as a bar, a plain line and a log record:
//
//	public.orders [############............] 500/1000 rows (50.0%) 100 rows/s ETA 5s
//	snapshot public.orders: 500/1000 rows (50.0%), 100 rows/s, ETA 5s
func snapshotReport(p snapshot.Progress, bar bool) progress.Report {
	rate := p.Rate()
	count := fmt.Sprintf("%d rows", p.Rows)
	if p.RowsEstimated > 0 {
		count = fmt.Sprintf("%d/%d rows (%.1f%%)", p.Rows, p.RowsEstimated, float64(min(p.Rows, p.RowsEstimated))*100/float64(p.RowsEstimated))
	}
	// The ETA is "?" without an estimate or a rate, and "0s" once the
	// estimate is reached (reltuples is only an estimate).
	eta := "?"
	if p.RowsEstimated > 0 && rate > 0 {
		eta = (time.Duration(float64(max(p.RowsEstimated-p.Rows, 0))/rate) * time.Second).String()
	}
	r := progress.Report{
		Text: fmt.Sprintf("snapshot %s: %s, %.0f rows/s, ETA %s", p.Table, count, rate, eta),
		Msg:  "snapshot progress",
		Attrs: []slog.Attr{slog.String("table", p.Table), slog.Int64("rows", p.Rows), slog.Int64("rows_estimated", p.RowsEstimated),
			slog.Int64("rows_per_second", int64(rate)), slog.String("eta", eta)},
	}
	if bar {
		r.Text = fmt.Sprintf("%s %s %s %.0f rows/s ETA %s", p.Table, progress.Bar(p.Rows, p.RowsEstimated, snapshotBarWidth), count, rate, eta)
	}
	return r
}

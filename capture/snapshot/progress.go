package snapshot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// progress reports how far the read of one table has got: rows done of
// estimated, rate and time to go. It redraws a bar when out is a terminal,
// writes a line per report to any other out, and logs at Info when out is nil.
// It reports at most once per interval, from the reading goroutine (no ticker:
// while the handler blocks, nothing moves and nothing is reported).
type progress struct {
	out      io.Writer
	tty      bool
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	table     string
	done, est int64
	start     time.Time
	last      time.Time
}

func newProgress(out io.Writer, interval time.Duration, log *slog.Logger, now func() time.Time) *progress {
	p := &progress{out: out, tty: isTerminal(out), log: log, interval: interval, now: now}
	if p.interval == 0 {
		p.interval = 10 * time.Second
		if p.tty {
			p.interval = 200 * time.Millisecond
		}
	}
	return p
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// begin starts reporting on a table expected to hold est rows (0: unknown).
func (p *progress) begin(table string, est int64) {
	p.table, p.done, p.est = table, 0, est
	p.start = p.now()
	p.last = p.start
}

// add counts n more rows read and reports if the interval has passed.
func (p *progress) add(n int) {
	p.done += int64(n)
	if now := p.now(); now.Sub(p.last) >= p.interval {
		p.last = now
		p.report(now, false)
	}
}

// finish reports the table's final count.
func (p *progress) finish() {
	p.report(p.now(), true)
}

func (p *progress) report(now time.Time, final bool) {
	rate := 0.0
	if el := now.Sub(p.start).Seconds(); el > 0 {
		rate = float64(p.done) / el
	}
	s := status{table: p.table, done: p.done, est: p.est, rate: rate}
	switch {
	case p.out == nil:
		if !final {
			p.log.LogAttrs(context.Background(), slog.LevelInfo, "snapshot progress",
				slog.String("table", s.table), slog.Int64("rows", s.done), slog.Int64("rows_estimated", s.est),
				slog.Int64("rows_per_second", int64(rate)), slog.String("eta", s.eta()))
		}
	case p.tty:
		end := ""
		if final {
			end = "\n"
		}
		// Reporting is best effort: a broken terminal must not stop the snapshot.
		_, _ = io.WriteString(p.out, "\r\x1b[K"+s.bar()+end)
	default:
		_, _ = io.WriteString(p.out, s.line()+"\n")
	}
}

// status is one progress report.
type status struct {
	table     string
	done, est int64
	rate      float64 // rows per second
}

const barWidth = 24

// bar renders the status as a one-line terminal bar.
func (s status) bar() string {
	var b strings.Builder
	b.WriteString(s.table)
	b.WriteString(" [")
	if s.est > 0 {
		filled := int(min(s.done, s.est) * barWidth / s.est)
		b.WriteString(strings.Repeat("#", filled))
		b.WriteString(strings.Repeat(".", barWidth-filled))
	} else {
		b.WriteString(strings.Repeat("?", barWidth))
	}
	fmt.Fprintf(&b, "] %s %.0f rows/s ETA %s", s.count(), s.rate, s.eta())
	return b.String()
}

// line renders the status as a plain log line.
func (s status) line() string {
	return fmt.Sprintf("snapshot %s: %s, %.0f rows/s, ETA %s", s.table, s.count(), s.rate, s.eta())
}

func (s status) count() string {
	if s.est <= 0 {
		return fmt.Sprintf("%d rows", s.done)
	}
	return fmt.Sprintf("%d/%d rows (%.1f%%)", s.done, s.est, float64(min(s.done, s.est))*100/float64(s.est))
}

// eta estimates the time left; "?" when there is no estimate or no rate yet,
// and "0s" once the estimate is reached (reltuples is only an estimate).
func (s status) eta() string {
	if s.est <= 0 || s.rate <= 0 {
		return "?"
	}
	left := float64(max(s.est-s.done, 0)) / s.rate
	return (time.Duration(left) * time.Second).String()
}

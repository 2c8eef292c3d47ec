package loadgen

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/internal/progress"
)

// ProgressLine is the live status of a run that has taken elapsed so far:
// transactions, rows changed and the rate, and against count (the run's
// limit; 0 if none) the share done and the time left.
func (s Stats) ProgressLine(count int64, elapsed time.Duration) string {
	rate := float64(s.Transactions) / max(elapsed.Seconds(), 1e-3)
	var rows int64
	for _, t := range s.Tables {
		rows += t.Inserted + t.Updated + t.Deleted
	}
	line := fmt.Sprintf("%d tx, %d rows changed, %.0f tx/s, %v", s.Transactions, rows, rate, elapsed.Round(time.Second))
	if count > 0 {
		line = fmt.Sprintf("%d/%d tx (%.0f%%), %d rows changed, %.0f tx/s", s.Transactions, count,
			100*float64(s.Transactions)/float64(count), rows, rate)
		if left := count - s.Transactions; left > 0 && rate > 0 {
			line += fmt.Sprintf(", ETA %v", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
		}
	}
	return line
}

// WriteTable writes the per-table counts as a table, tables in
// case-insensitive order, then the number of transactions, in one Write.
func (s Stats) WriteTable(w io.Writer) error {
	names := make([]string, 0, len(s.Tables))
	for n := range s.Tables {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %10s %10s %10s\n", "table", "inserted", "updated", "deleted")
	for _, n := range names {
		t := s.Tables[n]
		fmt.Fprintf(&b, "%-18s %10d %10d %10d\n", n, t.Inserted, t.Updated, t.Deleted)
	}
	fmt.Fprintf(&b, "%d transactions committed\n", s.Transactions)
	_, err := io.WriteString(w, b.String())
	return err
}

// RunWithProgress is Run, showing its ProgressLine on w until it returns:
// a terminal gets one line rewritten in place every half second, a file or
// pipe a plain line every ten seconds, and the final line when Run ends.
// count (0 if none) gives the share done and the ETA. It blocks like Run and
// returns Run's error.
func (g *Generator) RunWithProgress(ctx context.Context, count int64, w io.Writer) error {
	l := progress.New(progress.Config{Out: w, TerminalInterval: 500 * time.Millisecond})
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t := time.NewTicker(l.Interval())
	defer t.Stop()
	for {
		select {
		case err := <-done:
			l.Finish(progress.Report{Text: g.Stats().ProgressLine(count, time.Since(start))})
			return err
		case <-t.C:
			l.Show(progress.Report{Text: g.Stats().ProgressLine(count, time.Since(start))})
		}
	}
}

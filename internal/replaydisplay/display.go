// Package replaydisplay is the live display of `cdcflow replay`: the
// redisview.Progress reports of a replay, drawn through internal/progress
// as a bar redrawn in place, or as "replay progress" log records at most
// every interval, and the record that says a generation was swapped in.
//
// It only renders: the replay reports through its callback and the caller
// owns the progress.Line. It imports internal/progress and
// sinks/redisview's types; never cmd or the configuration. A display
// returned by New is used by one goroutine at a time (the replay's).
package replaydisplay

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cdcflow/cdcflow/internal/progress"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// BarWidth is the width, in cells, of the bar `cdcflow replay` draws.
const BarWidth = 30

// New returns a callback that shows replay progress on l. Redrawn, every
// report is one line rewritten in place:
//
//	replay [###########...................]  37%  12345/33000 records  2100/s  ETA 9s
//
// Replay runs rounds: after the pass from the start of the topics, catch-up
// rounds apply what arrived meanwhile, each with its own bar ("catch-up 1").
// Logged, a "replay progress" record goes out at most every interval of l,
// and always for the first report, a round's first and the one that
// completes it.
func New(l *progress.Line, width int) func(redisview.Progress) {
	first, round := true, 0
	return func(p redisview.Progress) {
		r := Report(p, width)
		if l.Redraws() || first || p.Done >= p.Total || p.Round != round {
			first, round = false, p.Round
			l.Show(r)
			return
		}
		l.Update(r)
	}
}

// Report renders p as a bar of width cells and as a log record.
func Report(p redisview.Progress, width int) progress.Report {
	// Done counts offsets and may pass a round's total, fixed at the
	// round's start, by records that arrived meanwhile: shown as complete.
	p.Done = min(p.Done, p.Total)
	done, total := p.Done, p.Total
	if total <= 0 {
		done, total = 1, 1 // nothing to apply: complete
	}
	eta := "-" // unknown: no rate yet, or stalled
	if p.ETA > 0 {
		eta = p.ETA.Round(time.Second).String()
	}
	what := "replay"
	if p.Round > 1 {
		what = fmt.Sprintf("catch-up %d", p.Round-1)
	}
	logPct := 100.0
	if p.Total > 0 {
		logPct = 100 * float64(p.Done) / float64(p.Total)
	}
	return progress.Report{
		Text: fmt.Sprintf("%s %s %3.0f%%  %d/%d records  %.0f/s  ETA %s", what, progress.Bar(done, total, width),
			100*float64(min(done, total))/float64(total), p.Done, p.Total, p.Rate, eta),
		Msg: "replay progress",
		Attrs: []slog.Attr{slog.Int("round", p.Round), slog.Int64("done", p.Done), slog.Int64("total", p.Total),
			slog.String("percent", fmt.Sprintf("%.0f", logPct)), slog.String("rate_per_s", fmt.Sprintf("%.0f", p.Rate)),
			slog.String("eta", eta)},
	}
}

// LogSwap logs, at Info on log, that generation live has been swapped in
// for old (0: none), and, when old is kept for a grace period (grace > 0),
// that it is deleted after it.
func LogSwap(log *slog.Logger, live, old int64, grace time.Duration) {
	if old > 0 && grace > 0 {
		log.Info("swapped: the new generation is live; the old one is deleted after the grace period",
			"generation", live, "old_generation", old, "grace", grace)
		return
	}
	log.Info("swapped: the new generation is live", "generation", live, "old_generation", old)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func init() {
	register(command{
		name:    "replay",
		summary: "rebuild the Redis views into a new generation from the start of the topics and swap it in",
		run:     runReplay,
	})
}

// runReplay rebuilds the views while the current generation keeps serving,
// swaps the pointer atomically and deletes the old generation after the
// grace period.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := addViewFlags(fs)
	fresh := fs.Bool("fresh", false, "start over instead of resuming an interrupted replay (needed after the view definitions changed)")
	grace := fs.Duration("grace", -1, "how long readers may keep the old generation before it is deleted; 0 keeps it (default: views.replay_grace)")
	progress := fs.Bool("progress", isTerminal(stderr), "show a progress bar on stderr (default: when stderr is a terminal); otherwise progress is logged every 10s")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, reg, err := viewCommandSetup(f, stderr)
	if err != nil {
		return err
	}
	defer s.rdb.Close()
	if *grace < 0 {
		*grace = s.cfg.Views.ReplayGrace
	}
	cc := s.consumerConfig(s.cfg.Kafka.Brokers)
	cc.Group += "-replay"
	var bar *progressBar
	if *progress {
		bar = &progressBar{w: stderr, width: 30}
		cc.Progress = bar.show
	} else {
		cc.Progress = progressLogger(s.log, 10*time.Second, time.Now)
	}
	gen, err := redisview.Replay(ctx, redisview.ReplayConfig{
		Consumer: cc,
		Views:    s.viewsConfig(redisview.NewMetrics(reg)),
		Fresh:    *fresh,
		Grace:    *grace,
	}, s.defs, s.rdb)
	bar.end()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generation %d is live\n", gen)
	return nil
}

// progressBar draws replay progress as one line rewritten in place:
//
//	replay [###########...................]  37%  12345/33000 records  2100/s  ETA 9s
//
// Replay runs rounds: after the pass from the start of the topics, catch-up
// rounds apply what arrived meanwhile, each with its own bar ("catch-up 1").
type progressBar struct {
	w     io.Writer
	width int
	drawn bool
}

func (b *progressBar) show(p redisview.Progress) {
	frac := 1.0
	if p.Total > 0 {
		frac = min(float64(p.Done)/float64(p.Total), 1)
	}
	n := int(frac * float64(b.width))
	eta := "-"
	if p.ETA > 0 {
		eta = p.ETA.Round(time.Second).String()
	}
	what := "replay"
	if p.Round > 1 {
		what = fmt.Sprintf("catch-up %d", p.Round-1)
	}
	fmt.Fprintf(b.w, "\r\033[K%s [%s%s] %3.0f%%  %d/%d records  %.0f/s  ETA %s",
		what, strings.Repeat("#", n), strings.Repeat(".", b.width-n), 100*frac, p.Done, p.Total, p.Rate, eta)
	b.drawn = true
}

// end finishes the bar's line; a nil bar does nothing.
func (b *progressBar) end() {
	if b != nil && b.drawn {
		fmt.Fprintln(b.w)
	}
}

// progressLogger returns a replay progress callback that logs a line at most
// every interval, and always the first report of a round and the one that
// completes it.
func progressLogger(log *slog.Logger, interval time.Duration, now func() time.Time) func(redisview.Progress) {
	var last time.Time
	round := 0
	return func(p redisview.Progress) {
		t := now()
		if !last.IsZero() && t.Sub(last) < interval && p.Done < p.Total && p.Round == round {
			return
		}
		last, round = t, p.Round
		pct := 100.0
		if p.Total > 0 {
			pct = 100 * float64(p.Done) / float64(p.Total)
		}
		log.Info("replay progress", "round", p.Round, "done", p.Done, "total", p.Total, "percent", fmt.Sprintf("%.0f", pct),
			"rate_per_s", fmt.Sprintf("%.0f", p.Rate), "eta", p.ETA.Round(time.Second).String())
	}
}

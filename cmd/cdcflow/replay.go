package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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
// swaps the pointer atomically and deletes the old generation after --grace.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := addViewFlags(fs)
	fresh := fs.Bool("fresh", false, "start over instead of resuming an interrupted replay (needed after the view definitions changed)")
	grace := fs.Duration("grace", 30*time.Second, "how long readers may keep the old generation before it is deleted (0 keeps it)")
	progress := fs.Bool("progress", isTerminal(stderr), "show progress on stderr (default: when stderr is a terminal)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	s, err := f.setup(stderr)
	if err != nil {
		return err
	}
	defer s.rdb.Close()
	cc := redisview.ConsumerConfig{Brokers: s.cfg.Kafka.Brokers, Group: *f.group + "-replay", Topics: s.topics, Logger: s.log}
	if *progress {
		cc.Progress = func(p redisview.Progress) {
			pct := 100.0
			if p.Total > 0 {
				pct = 100 * float64(p.Done) / float64(p.Total)
			}
			fmt.Fprintf(stderr, "\rreplay: %d of %d records (%.0f%%), %.0f records/s, ETA %s   ", p.Done, p.Total, pct, p.Rate, p.ETA.Round(time.Second))
		}
	}
	gen, err := redisview.Replay(ctx, redisview.ReplayConfig{
		Consumer: cc,
		Views:    s.viewsConfig(*f.prefix, redisview.NewMetrics(s.reg)),
		Fresh:    *fresh,
		Grace:    *grace,
	}, s.defs, s.rdb)
	if *progress {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generation %d is live\n", gen)
	return nil
}

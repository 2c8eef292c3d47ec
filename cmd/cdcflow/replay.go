package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/internal/metricsserver"
	"github.com/cdcflow/cdcflow/internal/progress"
	"github.com/cdcflow/cdcflow/internal/replaydisplay"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func init() {
	register(command{
		name:    "replay",
		summary: "rebuild the Redis views into a new generation from the start of the topics and swap it in",
		run:     runReplay,
		example: "cdcflow replay --config cdcflow.yaml --grace 30s",
	})
}

// runReplay rebuilds the views while the current generation keeps serving,
// swaps the pointer atomically and deletes the old generation after the
// grace period.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", stderr)
	f := addViewFlags(fs)
	fresh := fs.Bool("fresh", false, "start over instead of resuming an interrupted replay (needed after the view definitions changed)")
	var grace optionalDuration
	fs.Var(&grace, "grace", "how long readers may keep the old generation before it is deleted (a `duration`, e.g. 30s); 0 keeps it (default: views.replay_grace)")
	showBar := fs.Bool("progress", progress.IsTerminal(stderr), "show a progress bar on stderr (default: when stderr is a terminal); otherwise progress is logged every 10s")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// The bar and the log records share stderr through a progress.Screen.
	stderr = liveStderr(stderr, *showBar)
	s, reg, err := viewCommandSetup(f, stderr)
	if err != nil {
		return err
	}
	defer s.rdb.Close()
	if !grace.set {
		grace.d = s.cfg.Views.ReplayGrace
	}
	cc := s.ConsumerConfig(s.cfg.Kafka.Brokers) // a replay reads without a group
	line := progress.New(progress.Config{Log: s.log})
	if *showBar {
		line = progress.New(progress.Config{Out: stderr, Redraw: true})
	}
	cc.Progress = replayDisplay(line, replaydisplay.BarWidth)
	pause := testPause(ctx, s.log)
	if show := cc.Progress; pause != nil {
		cc.Progress = func(p redisview.Progress) {
			show(p)
			if p.Round == 1 && p.Done > 0 && p.Done < p.Total {
				pause("pass")
			} else if p.Round > 1 {
				pause("catch-up")
			}
		}
	}
	// A replay Job is scraped like the materializer: its progress, and the
	// replay-stall alert's cdcflow_views_replay_last_progress_timestamp_seconds,
	// are only seen while it serves metrics.addr. The server stops when the
	// replay ends; a server that cannot listen stops the replay at once.
	metrics := redisview.NewMetrics(reg)
	g, gctx := errgroup.WithContext(ctx)
	mctx, stopMetrics := context.WithCancel(gctx)
	defer stopMetrics()
	if s.cfg.Metrics.Addr != "" {
		var ready atomic.Bool
		ready.Store(true)
		readyz := metricsserver.Ready(&ready)
		metricsserver.RegisterProcess(reg, "replay", buildVersion(), readyz)
		g.Go(func() error {
			err := metricsserver.Serve(mctx, s.cfg.Metrics.Addr, reg, readyz)
			if errors.Is(err, context.Canceled) && gctx.Err() == nil {
				return nil // stopped because the replay ended
			}
			return err
		})
	}
	var gen int64
	g.Go(func() error {
		defer stopMetrics()
		var err error
		gen, err = redisview.Replay(gctx, redisview.ReplayConfig{
			Consumer: cc,
			Views:    s.ViewsConfig(metrics),
			Fresh:    *fresh,
			Grace:    grace.d,
			OnSwap: func(live, old int64) {
				line.End()
				replaydisplay.LogSwap(s.log, live, old, grace.d)
				if pause != nil {
					pause("grace")
				}
			},
			OnDelete: func(int64) {
				if pause != nil {
					pause("delete")
				}
			},
		}, s.Definitions(), s.rdb)
		return err
	})
	err = g.Wait()
	line.End()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generation %d is live\n", gen)
	return nil
}

// replayDisplay shows replay progress on l (see replaydisplay.New).
func replayDisplay(l *progress.Line, width int) func(redisview.Progress) {
	return replaydisplay.New(l, width)
}

// optionalDuration is a duration flag whose absence is told apart from any
// value (so that no sentinel shows in the help).
type optionalDuration struct {
	d   time.Duration
	set bool
}

func (o *optionalDuration) String() string {
	if o == nil || !o.set {
		return ""
	}
	return o.d.String()
}

func (o *optionalDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("negative duration %s", s)
	}
	o.d, o.set = d, true
	return nil
}

// testPauseEnv names a replay phase (pass, catch-up, grace, delete) at
// which replay stops and waits to be killed: how the kill -9 test reaches
// each phase deterministically. Not for production use.
const testPauseEnv = "CDCFLOW_TEST_REPLAY_PAUSE"

// testPause returns, when testPauseEnv is set, a function that blocks
// until ctx ends once it is called with that phase, after logging "test
// pause"; nil otherwise.
func testPause(ctx context.Context, log *slog.Logger) func(phase string) {
	want := os.Getenv(testPauseEnv)
	if want == "" {
		return nil
	}
	return func(phase string) {
		if phase == want {
			log.Warn("test pause: waiting to be killed", "phase", phase, "env", testPauseEnv)
			<-ctx.Done()
		}
	}
}

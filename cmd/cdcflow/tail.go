package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/changejson"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/flowdisplay"
	"github.com/cdcflow/cdcflow/internal/metricsserver"
	"github.com/cdcflow/cdcflow/internal/progress"
)

func init() {
	register(command{name: "tail", summary: "print the captured change stream as JSON lines", run: runTail,
		example: "cdcflow tail --config cdcflow.yaml --table public.orders --temporary"})
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// runTail prints the decoded stream, one JSON object per message, and
// confirms to PostgreSQL what it has written to stdout, so a restart resumes
// after the last printed transaction.
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", stderr)
	path := configFlag(fs)
	var tables stringList
	fs.Var(&tables, "table", "print only this table (schema.table; repeatable); captured tables when capture.tables is empty")
	temporary := fs.Bool("temporary", false, "use a temporary slot, dropped when tail exits")
	mode := fs.String("snapshot", "", "snapshot mode for a new slot: initial, never or initial_only (default: capture.snapshot)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	rc := cfg.ReplicationConfig()
	if *temporary {
		rc.Temporary = true
	}
	if *mode != "" {
		rc.SnapshotMode = replication.SnapshotMode(*mode)
	}
	if len(rc.Tables) == 0 {
		rc.Tables = tables
	}
	filter := make(map[replication.TableName]bool)
	for _, t := range tables {
		n, err := replication.ParseTableName(t)
		if err != nil {
			return fmt.Errorf("%w: --table: %v", errUsage, err)
		}
		filter[n] = true
	}
	var show func(*capture.Relation) bool // every table
	if len(filter) > 0 {
		show = func(rel *capture.Relation) bool {
			return filter[replication.TableName{Schema: rel.Schema, Table: rel.Table}]
		}
	}
	// Log records and the snapshot's bars share stderr on a terminal.
	stderr = liveStderr(stderr, progress.IsTerminal(stderr))
	log := cfg.Log.Logger(stderr)
	var bars io.Writer // a progress bar on a terminal; log records otherwise
	if progress.IsTerminal(stderr) {
		bars = stderr
	}
	rc.Snapshot.Progress = flowdisplay.Snapshot(bars, log)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r, err := replication.New(rc, log, replication.NewMetrics(reg))
	if err != nil {
		return err
	}
	if err := r.WithSnapshotMetrics(snapshot.NewMetrics(reg)); err != nil {
		return err
	}
	// Say everything that is not ready at once, with the fixes; an
	// unreachable server is left to Run, which retries.
	if err := replication.Preflight(ctx, rc); err != nil {
		if errors.As(err, new(*replication.NotReadyError)) {
			return err
		}
		log.Warn("preflight check failed", "err", err)
	}

	var ready atomic.Bool
	printer := changejson.NewPrinter(stdout, show)
	handle := func(ctx context.Context, msgs []capture.Message) error {
		for _, m := range msgs {
			if _, ok := m.(*capture.Connected); ok {
				ready.Store(true)
			}
		}
		if err := printer.Print(msgs); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
		// Printed means handled: the slot may move past it.
		if p := capture.Confirmable(msgs); p != 0 {
			r.Confirm(p)
		}
		return nil
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(ctx, handle) })
	if cfg.Metrics.Addr != "" {
		readyz := metricsserver.Ready(&ready)
		metricsserver.RegisterProcess(reg, "tail", buildVersion(), readyz)
		g.Go(func() error { return metricsserver.Serve(ctx, cfg.Metrics.Addr, reg, readyz) })
	}
	return sourceError(g.Wait()) // after a signal, context.Canceled: main treats it as a clean exit
}

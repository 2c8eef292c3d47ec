package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/deploy/examples/orders"
	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/pipeline"
)

func init() {
	register(command{name: "quickstart", summary: "run the whole flow on a private PostgreSQL with the reference order database under load", run: runQuickstart})
}

// quickstartDB is the database the quickstart creates and loads.
const quickstartDB = "orders"

// runQuickstart is "cdcflow quickstart": it starts a private PostgreSQL 15
// with logical WAL in <data_dir>/postgres, creates the reference order
// database in it (once; later runs continue on the same data), and runs the
// load generator against it together with the main flow (capture → the
// reference mapping → the embedded Kafka broker in <data_dir>/kafka), with
// live progress, until interrupted or --count. It then stops the server:
// nothing is left running.
func runQuickstart(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	dataDir := fs.String("data-dir", "", "directory for cdcflow's state (default: data_dir of the configuration, ./cdcflow-data)")
	port := fs.Int("port", 0, "TCP port of the private PostgreSQL on 127.0.0.1; 0 picks a free one")
	flowOn := fs.Bool("flow", true, "also run the main flow (capture, mapping, the embedded broker); false runs only the database and the load")
	lf := addLoadgenFlags(fs, 20)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cdcflow quickstart [flags]\n\nStarts a private PostgreSQL 15 (wal_level=logical) in <data-dir>/postgres, creates the\nreference order database \"orders\" and runs the load generator against it, with\n\"cdcflow run\" capturing it into the embedded Kafka broker in <data-dir>/kafka, until\nCtrl-C (or --count/--duration), then stops the server.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := loadConfig(*cfgPath, os.Environ())
	if err != nil {
		return err
	}
	if *dataDir == "" {
		*dataDir = cfg.DataDir
	}
	log := cfg.Log.logger(stderr)

	dir := filepath.Join(*dataDir, "postgres")
	fmt.Fprintf(stderr, "starting PostgreSQL in %s ...\n", dir)
	pg, err := services.StartPostgres(ctx, services.PostgresOptions{Dir: dir, Port: *port, Log: log})
	if err != nil {
		return err
	}
	defer func() {
		// Stop even after Ctrl-C: the server must not outlive us.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if serr := pg.Stop(stopCtx); serr != nil {
			err = errors.Join(err, serr)
			return
		}
		fmt.Fprintln(stderr, "PostgreSQL stopped; run \"cdcflow quickstart\" again to continue on the same data")
	}()
	dsn := pg.DSN(quickstartDB)
	created, err := prepareOrderDB(ctx, pg.DSN("postgres"), dsn)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stderr, "created database %q with the reference order schema\n", quickstartDB)
	} else {
		fmt.Fprintf(stderr, "database %q exists; continuing on its data\n", quickstartDB)
	}
	fmt.Fprintf(stderr, "PostgreSQL 15 (wal_level=logical) listens on 127.0.0.1:%d; while this runs, look with:\n  psql '%s'\n", pg.Port(), dsn)

	g, err := loadgen.New(lf.config(fs, dsn, stderr))
	if err != nil {
		return err
	}
	if !*flowOn {
		err = runWithProgress(ctx, g, *lf.count, stderr)
		if perr := printStats(stdout, g.Stats()); err == nil {
			err = perr
		}
		return err
	}

	cfg.DataDir = *dataDir
	cfg.Source.DSN = dsn
	cfg.Source.Timezone = loadgen.ShopZone
	mapping, err := pipeline.Load(orders.Files, orders.MappingFile, pipeline.LoadOptions{Timezone: loadgen.ShopZone})
	if err != nil {
		return fmt.Errorf("load the reference mapping: %w", err)
	}
	var topics []string
	for _, a := range mapping.AggregateTypes() {
		topics = append(topics, mapping.Topic(a))
	}
	fmt.Fprintf(stderr, "capturing into the embedded Kafka broker in %s (topics %s); Ctrl-C stops\n",
		filepath.Join(*dataDir, "kafka"), strings.Join(topics, ", "))
	opts := flowOptions{status: func() string { return fmt.Sprintf("load %d tx", g.Stats().Transactions) }}
	if isTerminal(stderr) {
		opts.progress = stderr
	}
	// The flow runs until Ctrl-C. A bounded load (--count, --duration)
	// ends the quickstart once the slot has confirmed everything it wrote:
	// every event is then acknowledged by the broker.
	group, gctx := errgroup.WithContext(ctx)
	flowCtx, stopFlow := context.WithCancel(gctx)
	defer stopFlow()
	var caughtUp bool
	group.Go(func() error {
		if err := g.Run(gctx); err != nil {
			if gctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("load: %w", err)
		}
		if err := awaitSlotCaughtUp(gctx, dsn, cfg.Capture.Slot); err != nil {
			return err
		}
		caughtUp = true
		stopFlow()
		return nil
	})
	group.Go(func() error {
		err := runFlow(flowCtx, cfg, mapping, log, opts)
		if caughtUp && errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	err = group.Wait()
	if perr := printStats(stdout, g.Stats()); err == nil || errors.Is(err, context.Canceled) {
		err = errors.Join(err, perr)
	}
	return err
}

// prepareOrderDB creates the database of orderDSN through adminDSN unless
// it exists, and loads the reference schema into it unless its orders table
// exists. It reports whether it created anything.
func prepareOrderDB(ctx context.Context, adminDSN, orderDSN string) (bool, error) {
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, quickstartDB).Scan(&exists); err != nil {
		return false, fmt.Errorf("look for database %q: %w", quickstartDB, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{quickstartDB}.Sanitize()); err != nil {
			return false, fmt.Errorf("create database %q: %w", quickstartDB, err)
		}
	}
	conn, err := pgx.Connect(ctx, orderDSN)
	if err != nil {
		return false, fmt.Errorf("connect to %q: %w", quickstartDB, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var hasSchema bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('public.orders') IS NOT NULL`).Scan(&hasSchema); err != nil {
		return false, fmt.Errorf("look for the order schema: %w", err)
	}
	if hasSchema {
		return !exists, nil
	}
	return true, loadgen.Init(ctx, conn)
}

// awaitSlotCaughtUp waits until the slot has confirmed the WAL position the
// database had when it was called (heartbeats carry it past the last
// commit), or ctx ends.
func awaitSlotCaughtUp(ctx context.Context, dsn, slot string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var target string
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&target); err != nil {
		return fmt.Errorf("read the WAL position: %w", err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var done bool
		err := conn.QueryRow(ctx, `SELECT coalesce(confirmed_flush_lsn >= $1::pg_lsn, false)
			FROM pg_replication_slots WHERE slot_name = $2`, target, slot).Scan(&done)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read slot %q: %w", slot, err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/loadgen"
)

func init() {
	register(command{name: "loadgen", summary: "drive the order lifecycle against the reference order database", description: "It runs order lifecycle transactions against the reference order database\n(deploy/examples/orders). Without --count or --duration it runs until interrupted,\nunless --big-tx alone is given.",
		run:     runLoadgen,
		example: "cdcflow loadgen --dsn postgres://app@localhost/shop --init --rate 50 --duration 1m"})
}

// loadgenFlags are the flags "loadgen" and "quickstart" share.
type loadgenFlags struct {
	seed     *uint64
	rate     *float64
	count    *int64
	duration *time.Duration
	workers  *int
}

func addLoadgenFlags(fs *flag.FlagSet, defaultRate float64) *loadgenFlags {
	return &loadgenFlags{
		seed:     fs.Uint64("seed", 0, "seed of the run; the same seed on the same database gives the same data (default: random, printed)"),
		rate:     fs.Float64("rate", defaultRate, "transactions per second; 0 = as fast as possible"),
		count:    fs.Int64("count", 0, "stop after this many transactions; 0 = no limit"),
		duration: fs.Duration("duration", 0, "stop after this long, e.g. 30s; 0 = no limit"),
		workers:  fs.Int("workers", 1, "concurrent connections; runs repeat for a seed only with 1"),
	}
}

// config returns the generator configuration; an unset seed is drawn at
// random and reported, so the run can be repeated.
func (f *loadgenFlags) config(fs *flag.FlagSet, dsn string, stderr io.Writer) loadgen.Config {
	seed := *f.seed
	if !flagSet(fs, "seed") {
		seed = uint64(time.Now().UnixNano()) % 1_000_000
		fmt.Fprintf(stderr, "seed %d (repeat the run with --seed %d)\n", seed, seed)
	}
	return loadgen.Config{DSN: dsn, Seed: seed, Rate: *f.rate, Count: *f.count, Duration: *f.duration, Workers: *f.workers}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runLoadgen is "cdcflow loadgen": it plays the legacy order application
// against a database holding the reference schema (--init creates it).
func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadgen", stderr)
	cfgPath := configFlag(fs)
	dsn := fs.String("dsn", "", "connection string of the order database (default: source.dsn of the configuration)")
	initSchema := fs.Bool("init", false, "create the reference order schema first")
	bigTx := fs.Int("big-tx", 0, "write one transaction of this many rows (orders and their lines, by COPY) before the run")
	lf := addLoadgenFlags(fs, 0)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *bigTx < 0 {
		return fmt.Errorf("%w: --big-tx must not be negative", errUsage)
	}
	if *dsn == "" {
		cfg, err := config.Load(*cfgPath, os.Environ())
		if err != nil {
			return err
		}
		*dsn = cfg.Source.DSN
	}
	if *dsn == "" {
		return fmt.Errorf("%w: no database: give --dsn, or source.dsn in the configuration (CDCFLOW_SOURCE_DSN)", errUsage)
	}
	if *initSchema {
		if err := initOrderSchema(ctx, *dsn); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "created the reference order schema")
	}
	g, err := loadgen.New(lf.config(fs, *dsn, stderr))
	if err != nil {
		return err
	}
	if *bigTx > 0 {
		start := time.Now()
		if err := g.BigTx(ctx, *bigTx); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "big transaction of %d rows committed in %v\n", *bigTx, time.Since(start).Round(time.Millisecond))
		if !flagSet(fs, "count") && !flagSet(fs, "duration") {
			return printStats(stdout, g.Stats())
		}
	}
	err = runWithProgress(ctx, g, *lf.count, stderr)
	if perr := printStats(stdout, g.Stats()); err == nil {
		err = perr
	}
	return err
}

// initOrderSchema creates the reference schema in the database at dsn.
func initOrderSchema(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return loadgen.Init(ctx, conn)
}

// runWithProgress runs g, showing its progress on w until it returns.
func runWithProgress(ctx context.Context, g *loadgen.Generator, count int64, w io.Writer) error {
	return g.RunWithProgress(ctx, count, w)
}

func progressLine(s loadgen.Stats, count int64, elapsed time.Duration) string {
	return s.ProgressLine(count, elapsed)
}

// printStats writes the per-table counts as a table.
func printStats(w io.Writer, s loadgen.Stats) error { return s.WriteTable(w) }

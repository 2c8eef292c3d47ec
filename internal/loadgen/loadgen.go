package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"time"
	_ "time/tzdata" // the shop's local zone must not depend on the host's zoneinfo

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// DefaultEpoch is where the logical clock starts on an empty database.
var DefaultEpoch = time.Date(2024, time.March, 4, 8, 0, 0, 0, time.UTC)

// ShopZone is the zone whose wall-clock time the legacy application writes
// into its timestamp-without-time-zone columns.
const ShopZone = "Europe/Berlin"

// Config configures a Generator. The zero value runs one worker as fast as
// possible until Run's context ends, with seed 0.
type Config struct {
	// DSN is the connection string of the order database. Required.
	DSN string
	// Seed makes the run repeatable: with Workers 1, the same Seed on the
	// same starting database gives the same final database.
	Seed uint64
	// Rate is the target in transactions per second over all workers; 0
	// means as fast as possible.
	Rate float64
	// Count stops Run after this many transactions; 0 means no limit.
	Count int64
	// Duration stops Run after this much wall-clock time; 0 means no limit.
	Duration time.Duration
	// Workers is the number of connections running transactions at once.
	// Default 1; with more, runs are not repeatable.
	Workers int
	// Epoch is where the logical clock starts on an empty database.
	// Default DefaultEpoch.
	Epoch time.Time
	// Logger receives a line per worker start and stop; nil discards.
	Logger *slog.Logger
}

// Stats counts what a Generator did, in committed transactions only.
type Stats struct {
	// Transactions is the number of committed transactions.
	Transactions int64
	// Tables holds row counts by table name as written in SQL ("orders",
	// "ShipmentTracking", "audit_log").
	Tables map[string]TableStats
}

// TableStats counts the rows of one table a Generator changed.
type TableStats struct {
	Inserted, Updated, Deleted int64
}

// Generator runs order lifecycle transactions against one database.
type Generator struct {
	cfg  Config
	log  *slog.Logger
	zone *time.Location

	pace pacer // the transactions handed to workers, at cfg.Count and cfg.Rate (its own lock)

	mu    sync.Mutex // guards everything below
	stats Stats
	st    *state
}

// New checks cfg and returns a Generator. It does not connect.
func New(cfg Config) (*Generator, error) {
	if cfg.DSN == "" {
		return nil, errors.New("loadgen: DSN is required")
	}
	if _, err := pgx.ParseConfig(cfg.DSN); err != nil {
		return nil, fmt.Errorf("loadgen: parse DSN: %w", err)
	}
	if cfg.Rate < 0 || cfg.Count < 0 || cfg.Duration < 0 || cfg.Workers < 0 {
		return nil, errors.New("loadgen: Rate, Count, Duration and Workers must not be negative")
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = DefaultEpoch
	}
	zone, err := time.LoadLocation(ShopZone)
	if err != nil {
		return nil, fmt.Errorf("loadgen: load zone %s: %w", ShopZone, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Generator{cfg: cfg, log: log.With("component", "loadgen"), zone: zone,
		stats: Stats{Tables: map[string]TableStats{}}}, nil
}

// Stats returns a copy of the counts so far. It is safe to call while Run
// runs, e.g. to show progress.
func (g *Generator) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.Tables = maps.Clone(g.stats.Tables)
	return s
}

// Run runs transactions until Count of them have committed, Duration has
// passed (nil error in both cases), or ctx ends (ctx.Err()). On an empty
// database its first transaction loads the product catalogue and the first
// customers. It blocks; call it once at a time.
func (g *Generator) Run(ctx context.Context) error {
	conns := make([]*pgx.Conn, g.cfg.Workers)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	for i := range conns {
		c, err := pgx.Connect(ctx, g.cfg.DSN)
		if err != nil {
			return fmt.Errorf("connect worker %d: %w", i, err)
		}
		conns[i] = c
	}
	st, err := loadState(ctx, conns[0], g.cfg.Epoch)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.st = st
	g.mu.Unlock()
	g.pace.reset()

	var deadline time.Time
	if g.cfg.Duration > 0 {
		deadline = time.Now().Add(g.cfg.Duration)
	}
	eg, wctx := errgroup.WithContext(ctx)
	for i, c := range conns {
		w := &worker{g: g, conn: c, id: i,
			rng: rand.New(rand.NewPCG(g.cfg.Seed, uint64(i)))}
		eg.Go(func() error { return w.run(wctx, deadline) })
	}
	err = eg.Wait()
	if ctx.Err() != nil {
		return ctx.Err() // a transaction cut short by the cancel is not an error of its own
	}
	return err
}

// ticket asks for permission to run one more transaction: false once
// Count transactions were handed out or the deadline has come. With a Rate
// it waits for the next free slot, shared by all workers.
func (g *Generator) ticket(ctx context.Context, deadline time.Time) (bool, error) {
	return g.pace.ticket(ctx, deadline, g.cfg.Count, g.cfg.Rate)
}

// record adds a committed transaction's row counts to the stats.
func (g *Generator) record(d delta) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stats.Transactions++
	for t, c := range d {
		s := g.stats.Tables[t]
		s.Inserted += c.Inserted
		s.Updated += c.Updated
		s.Deleted += c.Deleted
		g.stats.Tables[t] = s
	}
}

// delta is one transaction's row counts, added to Stats on commit.
type delta map[string]*TableStats

func (d delta) add(table string, ins, upd, del int64) {
	s := d[table]
	if s == nil {
		s = &TableStats{}
		d[table] = s
	}
	s.Inserted += ins
	s.Updated += upd
	s.Deleted += del
}

type worker struct {
	g    *Generator
	conn *pgx.Conn
	id   int
	rng  *rand.Rand
}

func (w *worker) run(ctx context.Context, deadline time.Time) error {
	w.g.log.Debug("worker started", "worker", w.id)
	for {
		ok, err := w.g.ticket(ctx, deadline)
		if err != nil {
			return err
		}
		if !ok {
			w.g.log.Debug("worker done", "worker", w.id)
			return nil
		}
		if err := w.step(ctx); err != nil {
			return err
		}
	}
}

// tx runs fn in one transaction and records its counts once committed.
func (w *worker) tx(ctx context.Context, name string, fn func(tx pgx.Tx, d delta) error) error {
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", name, err)
	}
	d := delta{}
	if err := fn(tx, d); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx)) // the connection is dropped on failure anyway
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: commit: %w", name, err)
	}
	w.g.record(d)
	return nil
}

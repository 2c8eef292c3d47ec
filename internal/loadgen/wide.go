package loadgen

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// wideSchema is the wide-row workload's schema (wide/schema.sql).
//
//go:embed wide/schema.sql
var wideSchema string

// The wide workload's tables as SQL spells them.
const (
	// WideParent is the hot table, updated most; REPLICA IDENTITY FULL
	// when WideConfig.ReplicaFull.
	WideParent = `"Document"`
	// WideChild holds the child rows written in their parent's
	// transaction.
	WideChild = "document_line"
	// WideJournal is the busy table every transaction writes and no
	// publication holds.
	WideJournal = "journal"
)

// WideTables are the wide workload's captured tables, as SQL spells them.
var WideTables = []string{WideParent, WideChild}

// WideMappingDir is the directory of the wide workload's mapping
// (mapping.yaml and its schemas), relative to the module root.
const WideMappingDir = "internal/loadgen/wide"

// WideConfig configures a WideGenerator. The zero value of each parameter
// means its default.
type WideConfig struct {
	// DSN is the connection string of a database InitWide prepared.
	// Required.
	DSN string
	// Seed makes the run repeatable with Workers 1.
	Seed uint64
	// Count stops Run after this many transactions; 0 means no limit.
	Count int64
	// Rate is the target in transactions per second over all workers; 0
	// means as fast as possible.
	Rate float64
	// Duration stops Run after this much wall-clock time; 0 means no limit.
	Duration time.Duration
	// Workers is the number of connections running transactions at once.
	// Default 1.
	Workers int
	// RowWidth is the width in bytes of a decoded parent row, about (the
	// filler column makes up the rest). Default 2048; at least 256.
	RowWidth int
	// ToastShare is the fraction of parent rows written with a memo of
	// more than 8 KB, stored out of line. Default 0.1; a negative value
	// means none.
	ToastShare float64
	// Children is how many child rows each new parent gets in its own
	// transaction. Default 4; a negative value means none.
	Children int
}

// WideDefaults returns cfg with every zero parameter set to its default.
func WideDefaults(cfg WideConfig) WideConfig {
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.RowWidth == 0 {
		cfg.RowWidth = 2048
	}
	if cfg.ToastShare == 0 {
		cfg.ToastShare = 0.1
	}
	cfg.ToastShare = max(cfg.ToastShare, 0)
	if cfg.Children == 0 {
		cfg.Children = 4
	}
	cfg.Children = max(cfg.Children, 0)
	return cfg
}

// InitWide creates the wide workload's schema in the database conn is
// connected to, with REPLICA IDENTITY FULL on the hot table if replicaFull.
func InitWide(ctx context.Context, conn *pgx.Conn, replicaFull bool) error {
	if _, err := conn.Exec(ctx, wideSchema); err != nil {
		return fmt.Errorf("loadgen: create the wide schema: %w", err)
	}
	if replicaFull {
		if _, err := conn.Exec(ctx, "ALTER TABLE "+WideParent+" REPLICA IDENTITY FULL"); err != nil {
			return fmt.Errorf("loadgen: replica identity full: %w", err)
		}
	}
	return nil
}

// WideGenerator writes the wide-row workload: documents issued with their
// lines in one transaction, revised and moved through states many times
// (updates that leave the memo alone, so a TOASTed memo travels as an
// unchanged value, and under REPLICA IDENTITY FULL each update also carries
// the whole old row), a line changed now and then, old documents deleted,
// and a journal row or two in every transaction.
//
// Concurrency: Stats is safe to call while Run runs; Run must not be
// called twice at once. Each worker owns one connection and the documents
// it created, so no two transactions touch the same document.
type WideGenerator struct {
	cfg WideConfig

	pace pacer // the transactions handed to workers, at cfg.Count and cfg.Rate (its own lock)

	mu     sync.Mutex // guards everything below
	stats  Stats
	nextID int64
	clock  time.Time
}

// NewWide checks cfg and returns a WideGenerator. It does not connect.
func NewWide(cfg WideConfig) (*WideGenerator, error) {
	if cfg.DSN == "" {
		return nil, errors.New("loadgen: DSN is required")
	}
	if _, err := pgx.ParseConfig(cfg.DSN); err != nil {
		return nil, fmt.Errorf("loadgen: parse DSN: %w", err)
	}
	if cfg.Rate < 0 || cfg.Count < 0 || cfg.Duration < 0 || cfg.Workers < 0 || cfg.RowWidth < 0 {
		return nil, errors.New("loadgen: Rate, Count, Duration, Workers and RowWidth must not be negative")
	}
	if cfg.ToastShare > 1 {
		return nil, errors.New("loadgen: ToastShare must be at most 1")
	}
	cfg = WideDefaults(cfg)
	if cfg.RowWidth < 256 {
		return nil, errors.New("loadgen: RowWidth must be at least 256 bytes")
	}
	return &WideGenerator{cfg: cfg, stats: Stats{Tables: map[string]TableStats{}}}, nil
}

// Stats returns a copy of the counts so far; table names are the catalog's
// ("Document", "document_line", "journal").
func (g *WideGenerator) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stats
	s.Tables = make(map[string]TableStats, len(g.stats.Tables))
	for k, v := range g.stats.Tables {
		s.Tables[k] = v
	}
	return s
}

// Run runs transactions until Count of them have committed, Duration has
// passed (nil error), or ctx ends (ctx.Err()). It continues a database an
// earlier Run wrote. It blocks; call it once at a time.
func (g *WideGenerator) Run(ctx context.Context) error {
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
	// Each worker continues with the documents its number owns.
	owned := make([][]int64, len(conns))
	var maxID int64
	var last time.Time
	rows, err := conns[0].Query(ctx, `SELECT "DocId", updated_at FROM "Document" ORDER BY "DocId"`)
	if err != nil {
		return fmt.Errorf("load documents: %w", err)
	}
	for rows.Next() {
		var id int64
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return fmt.Errorf("load documents: %w", err)
		}
		owned[id%int64(len(conns))] = append(owned[id%int64(len(conns))], id)
		maxID = max(maxID, id)
		if at.After(last) {
			last = at
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load documents: %w", err)
	}
	g.pace.reset()
	g.mu.Lock()
	g.nextID = maxID
	g.clock = DefaultEpoch
	if last.After(g.clock) {
		g.clock = last
	}
	g.mu.Unlock()

	var deadline time.Time
	if g.cfg.Duration > 0 {
		deadline = time.Now().Add(g.cfg.Duration)
	}
	eg, wctx := errgroup.WithContext(ctx)
	for i, c := range conns {
		w := &wideWorker{g: g, conn: c, id: i, docs: owned[i],
			rng: rand.New(rand.NewPCG(g.cfg.Seed, uint64(i)+uint64(maxID)<<8))}
		eg.Go(func() error { return w.run(wctx, deadline) })
	}
	err = eg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// ticket is Generator.ticket for the wide workload.
func (g *WideGenerator) ticket(ctx context.Context, deadline time.Time) (bool, error) {
	return g.pace.ticket(ctx, deadline, g.cfg.Count, g.cfg.Rate)
}

// newID returns the next document id owned by worker w of n, and the
// logical clock advanced by a seeded step.
func (g *WideGenerator) newID(worker, n int) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextID++
	for g.nextID%int64(n) != int64(worker) {
		g.nextID++
	}
	return g.nextID
}

func (g *WideGenerator) tick(r *rand.Rand) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clock = g.clock.Add(time.Duration(1+r.IntN(90)) * time.Second)
	return g.clock
}

func (g *WideGenerator) record(d delta) {
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

type wideWorker struct {
	g    *WideGenerator
	conn *pgx.Conn
	id   int
	rng  *rand.Rand
	docs []int64 // the live documents this worker owns, oldest first
}

func (w *wideWorker) run(ctx context.Context, deadline time.Time) error {
	for {
		ok, err := w.g.ticket(ctx, deadline)
		if err != nil || !ok {
			return err
		}
		if err := w.step(ctx); err != nil {
			return err
		}
	}
}

// step runs one transaction: a new document (a third of them, and always
// while there are few), a revision or state change (most), a line change,
// or the deletion of the oldest document.
func (w *wideWorker) step(ctx context.Context) error {
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("wide: begin: %w", err)
	}
	d := delta{}
	at := w.g.tick(w.rng)
	var after func()
	switch p := w.rng.IntN(100); {
	case len(w.docs) < 20 || p < 30:
		var id int64
		id, err = w.issue(ctx, tx, d, at)
		after = func() { w.docs = append(w.docs, id) }
	case p < 88:
		err = w.revise(ctx, tx, d, at)
	case p < 96:
		err = w.changeLine(ctx, tx, d)
	default:
		err = w.remove(ctx, tx, d)
		after = func() { w.docs = w.docs[1:] }
	}
	if err == nil {
		err = w.journal(ctx, tx, d, at)
	}
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("wide: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("wide: commit: %w", err)
	}
	if after != nil {
		after()
	}
	w.g.record(d)
	return nil
}

// fixedWidth is about what a parent row's columns other than filler and
// memo take decoded.
const fixedWidth = 200

func (w *wideWorker) issue(ctx context.Context, tx pgx.Tx, d delta, at time.Time) (int64, error) {
	r := w.rng
	id := w.g.newID(w.id, w.g.cfg.Workers)
	var memo *string
	switch {
	case r.Float64() < w.g.cfg.ToastShare:
		s := bigText(r, 8500+r.IntN(4096))
		memo = &s
	case r.IntN(2) == 0:
		s := sentence(r, 5+r.IntN(10))
		memo = &s
	}
	filler := bigText(r, max(0, w.g.cfg.RowWidth-fixedWidth))
	if _, err := tx.Exec(ctx, `INSERT INTO "Document" ("DocId", kind, "stateCode", amount, tax_rates, labels, attrs, memo, filler, revision, issued_on, updated_at)
		VALUES ($1, $2, 0, $3::numeric, $4::numeric[], $5, $6::jsonb, $7, $8, 1, $9, $10)`,
		id, pick(r, []string{"invoice", "credit note", "delivery_note", "quote"}), wideMoney(r),
		"{"+strings.Join([]string{"19.00", "7.00", pick(r, []string{"0.00", "5.50", "20.00"})}, ",")+"}",
		tags(r), wideAttrs(r), memo, filler, at.Format(time.DateOnly), at); err != nil {
		return 0, fmt.Errorf("insert document: %w", err)
	}
	d.add("Document", 1, 0, 0)
	for pos := 1; pos <= w.g.cfg.Children; pos++ {
		if _, err := tx.Exec(ctx, `INSERT INTO document_line ("DocId", pos, article, qty, price, dims, props, line_text)
			VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6, $7::jsonb, $8)`,
			id, pos, fmt.Sprintf("ART-%05d", r.IntN(100000)), fmt.Sprintf("%d.%03d", 1+r.IntN(50), r.IntN(1000)), wideMoney(r),
			[]int32{int32(r.IntN(200)), int32(r.IntN(200)), int32(r.IntN(200))},
			fmt.Sprintf(`{"colour": %q, "size": %q, "weight_g": %d}`, pick(r, colours), pick(r, sizes), 50+r.IntN(5000)),
			sentence(r, 10+r.IntN(20))); err != nil {
			return 0, fmt.Errorf("insert document line: %w", err)
		}
	}
	d.add("document_line", int64(w.g.cfg.Children), 0, 0)
	return id, nil
}

// revise updates one document: its state, amount, revision and attributes;
// memo and filler stay as they were (the memo, when TOASTed, is sent as
// unchanged), and now and then the filler is rewritten.
func (w *wideWorker) revise(ctx context.Context, tx pgx.Tx, d delta, at time.Time) error {
	r := w.rng
	id := w.docs[r.IntN(len(w.docs))]
	sql := `UPDATE "Document" SET "stateCode" = ("stateCode" + $2) % 6, amount = $3::numeric, revision = revision + 1, attrs = attrs || $4::jsonb, updated_at = $5`
	args := []any{id, 1 + r.IntN(2), wideMoney(r), fmt.Sprintf(`{"rev_by": %q}`, pick(r, creators)), at}
	if r.IntN(10) == 0 {
		sql += `, filler = $6`
		args = append(args, bigText(r, max(0, w.g.cfg.RowWidth-fixedWidth)))
	}
	if _, err := tx.Exec(ctx, sql+` WHERE "DocId" = $1`, args...); err != nil {
		return fmt.Errorf("revise document: %w", err)
	}
	d.add("Document", 0, 1, 0)
	return nil
}

func (w *wideWorker) changeLine(ctx context.Context, tx pgx.Tx, d delta) error {
	r := w.rng
	id := w.docs[r.IntN(len(w.docs))]
	tag, err := tx.Exec(ctx, `UPDATE document_line SET qty = qty + 1, price = $3::numeric WHERE "DocId" = $1 AND pos = $2`,
		id, 1+r.IntN(max(1, w.g.cfg.Children)), wideMoney(r))
	if err != nil {
		return fmt.Errorf("change line: %w", err)
	}
	d.add("document_line", 0, tag.RowsAffected(), 0)
	return nil
}

// remove deletes the worker's oldest document with its lines.
func (w *wideWorker) remove(ctx context.Context, tx pgx.Tx, d delta) error {
	id := w.docs[0]
	tag, err := tx.Exec(ctx, `DELETE FROM document_line WHERE "DocId" = $1`, id)
	if err != nil {
		return fmt.Errorf("delete lines: %w", err)
	}
	d.add("document_line", 0, 0, tag.RowsAffected())
	if _, err := tx.Exec(ctx, `DELETE FROM "Document" WHERE "DocId" = $1`, id); err != nil {
		return fmt.Errorf("delete document: %w", err)
	}
	d.add("Document", 0, 0, 1)
	return nil
}

func (w *wideWorker) journal(ctx context.Context, tx pgx.Tx, d delta, at time.Time) error {
	n := 1 + w.rng.IntN(2)
	for range n {
		if _, err := tx.Exec(ctx, `INSERT INTO journal (at, actor, payload) VALUES ($1, $2, $3)`,
			at, pick(w.rng, creators), sentence(w.rng, 20+w.rng.IntN(40))); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	d.add("journal", int64(n), 0, 0)
	return nil
}

// wideMoney returns an amount with two decimals as text.
func wideMoney(r *rand.Rand) string {
	return strconv.Itoa(r.IntN(100000)) + "." + fmt.Sprintf("%02d", r.IntN(100))
}

// wideAttrs returns a document's attributes as JSON.
func wideAttrs(r *rand.Rand) string {
	return fmt.Sprintf(`{"channel": %q, "priority": %d, "cost_centre": "CC-%03d", "flags": [%t, %t], "approver": {"name": %q, "level": %d}}`,
		pick(r, creators), r.IntN(5), r.IntN(1000), r.IntN(2) == 0, r.IntN(3) == 0, pick(r, firstNames)+" "+pick(r, lastNames), 1+r.IntN(3))
}

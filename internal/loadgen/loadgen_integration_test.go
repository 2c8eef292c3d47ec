package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// tables lists every table of the schema with its primary key, for
// checksums and counts.
var tables = []struct{ name, sql, pk string }{
	{"customers", "customers", "customer_id"},
	{"products", "products", "product_id"},
	{"orders", "orders", "order_id"},
	{"order_lines", "order_lines", "order_id, line_no"},
	{"payments", "payments", "payment_id"},
	{"ShipmentTracking", `"ShipmentTracking"`, "shipment_id"},
	{"audit_log", "audit_log", "audit_id"},
}

// newOrderDB returns a fresh database with the order schema loaded.
func newOrderDB(t *testing.T) *testenv.DB {
	t.Helper()
	db := testenv.Postgres(t).NewDatabase(t)
	if err := Init(t.Context(), db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	return db
}

// checksums returns an md5 of every table's rows in primary key order.
func checksums(t *testing.T, db *testenv.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range tables {
		out[tb.name] = testenv.QueryValue[string](t, db, fmt.Sprintf(
			`SELECT md5(coalesce(string_agg(row_to_json(t)::text, E'\n' ORDER BY %s), '')) FROM %s t`, tb.pk, tb.sql))
	}
	return out
}

func run(t *testing.T, db *testenv.DB, cfg Config) Stats {
	t.Helper()
	cfg.DSN = db.DSN
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := g.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return g.Stats()
}

func TestIntegrationDeterministic(t *testing.T) {
	seed := uint64(testenv.Seed(t))
	const count = 600
	var sums [3]map[string]string
	for i, s := range []uint64{seed, seed, seed + 1} {
		db := newOrderDB(t)
		st := run(t, db, Config{Seed: s, Count: count})
		if st.Transactions != count {
			t.Errorf("run %d: %d transactions; want %d", i, st.Transactions, count)
		}
		sums[i] = checksums(t, db)
	}
	for _, tb := range tables {
		if sums[0][tb.name] != sums[1][tb.name] {
			t.Errorf("table %s differs between two runs with seed %d", tb.name, seed)
		}
	}
	differ := 0
	for _, tb := range tables {
		if sums[0][tb.name] != sums[2][tb.name] {
			differ++
		}
	}
	if differ < len(tables)-1 {
		t.Errorf("seeds %d and %d give %d different tables of %d; want nearly all", seed, seed+1, differ, len(tables))
	}
}

// TestIntegrationStatsMatch checks the reported counts against the rows in
// the database, over two runs, the second resuming where the first left.
func TestIntegrationStatsMatch(t *testing.T) {
	db := newOrderDB(t)
	seed := uint64(testenv.Seed(t))
	first := run(t, db, Config{Seed: seed, Count: 700})
	second := run(t, db, Config{Seed: seed + 1, Count: 300})
	for _, tb := range tables {
		a, b := first.Tables[tb.name], second.Tables[tb.name]
		want := a.Inserted + b.Inserted - a.Deleted - b.Deleted
		got := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM "+tb.sql)
		if got != want {
			t.Errorf("table %s holds %d rows; stats say %d inserted - %d deleted", tb.name, got, a.Inserted+b.Inserted, a.Deleted+b.Deleted)
		}
		if tb.name != "audit_log" && tb.name != "order_lines" && a.Deleted+b.Deleted != 0 {
			t.Errorf("table %s: %d rows deleted; the application never deletes there", tb.name, a.Deleted+b.Deleted)
		}
	}
	// Every kind of change happened.
	for _, c := range []struct {
		table string
		get   func(TableStats) int64
		what  string
	}{
		{"orders", func(s TableStats) int64 { return s.Updated }, "updated"},
		{"order_lines", func(s TableStats) int64 { return s.Deleted }, "deleted"},
		{"ShipmentTracking", func(s TableStats) int64 { return s.Updated }, "updated"},
		{"customers", func(s TableStats) int64 { return s.Updated }, "updated"},
		{"payments", func(s TableStats) int64 { return s.Inserted }, "inserted"},
	} {
		if c.get(first.Tables[c.table]) == 0 {
			t.Errorf("no row of %s %s in 700 transactions", c.table, c.what)
		}
	}
	// The lifecycle reached every status, and the statuses follow the
	// stats: every order placed is counted once.
	statuses := testenv.QueryValue[int64](t, db, `SELECT count(DISTINCT status) FROM orders`)
	// A rare final status (a revoke) can be missing after 1,000
	// transactions of some seeds: the lifecycle must reach it soon after.
	for extra := uint64(0); statuses != 7 && extra < 5; extra++ {
		run(t, db, Config{Seed: seed + 2 + extra, Count: 300})
		statuses = testenv.QueryValue[int64](t, db, `SELECT count(DISTINCT status) FROM orders`)
	}
	if statuses != 7 {
		t.Errorf("orders have %d distinct statuses; want all 7", statuses)
	}
	toasted := testenv.QueryValue[int64](t, db, `SELECT count(*) FROM orders WHERE octet_length(notes) > 8000`)
	if toasted == 0 {
		t.Error("no order note larger than 8 kB")
	}
	// Timestamps come from the logical clock, not the wall clock.
	if y := testenv.QueryValue[float64](t, db, `SELECT extract(year FROM max(updated_at)) FROM orders`); y != 2024 {
		t.Errorf("newest order updated in %v; want 2024 (logical clock)", y)
	}
}

func TestIntegrationBigTx(t *testing.T) {
	db := newOrderDB(t)
	const rows = 50_000
	g, err := New(Config{DSN: db.DSN, Seed: uint64(testenv.Seed(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.BigTx(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	st := g.Stats()
	if st.Transactions != 2 { // the catalogue, then the big one
		t.Errorf("%d transactions; want 2", st.Transactions)
	}
	// All rows of the big transaction share one xmin.
	got := testenv.QueryValue[int64](t, db, `
		WITH x AS (SELECT xmin FROM order_lines LIMIT 1)
		SELECT (SELECT count(*) FROM orders WHERE xmin = (SELECT xmin FROM x))
		     + (SELECT count(*) FROM order_lines WHERE xmin = (SELECT xmin FROM x))`)
	if got != rows {
		t.Errorf("the big transaction wrote %d rows; want %d", got, rows)
	}
	if n := st.Tables["orders"].Inserted + st.Tables["order_lines"].Inserted; n != rows {
		t.Errorf("stats count %d rows; want %d", n, rows)
	}
	// Totals agree with the lines.
	bad := testenv.QueryValue[int64](t, db, `SELECT count(*) FROM orders o WHERE total <>
		(SELECT coalesce(sum(round(quantity * unit_price * (100 - discount) / 100, 2)), 0) FROM order_lines l WHERE l.order_id = o.order_id)`)
	if bad != 0 {
		t.Errorf("%d orders have a total that is not the sum of their lines", bad)
	}
	// The application carries on after the import.
	run(t, db, Config{Seed: 3, Count: 50})
}

func TestIntegrationRateAndDuration(t *testing.T) {
	db := newOrderDB(t)
	start := time.Now()
	st := run(t, db, Config{Seed: 1, Rate: 50, Duration: 400 * time.Millisecond})
	elapsed := time.Since(start)
	// 50 tx/s for 0.4 s is about 20 transactions; a slow machine does fewer.
	if st.Transactions < 1 || st.Transactions > 22 {
		t.Errorf("%d transactions at 50/s in 400ms; want 1..22", st.Transactions)
	}
	if elapsed > 30*time.Second {
		t.Errorf("Run took %v; the duration was 400ms", elapsed)
	}
}

func TestIntegrationWorkers(t *testing.T) {
	db := newOrderDB(t)
	st := run(t, db, Config{Seed: 5, Count: 300, Workers: 3})
	if st.Transactions != 300 {
		t.Errorf("%d transactions; want 300", st.Transactions)
	}
	got := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM orders")
	if want := st.Tables["orders"].Inserted; got != want {
		t.Errorf("orders holds %d rows; stats say %d", got, want)
	}
}

func TestIntegrationCancel(t *testing.T) {
	db := newOrderDB(t)
	g, err := New(Config{DSN: db.DSN})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	testenv.Await(t, time.Minute, "20 transactions", func() (bool, error) {
		return g.Stats().Transactions >= 20, nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v; want context.Canceled", err)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {DSN: "postgres://x", Rate: -1}, {DSN: "://"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

func TestIntegrationRunWithProgress(t *testing.T) {
	db := newOrderDB(t)
	g, err := New(Config{DSN: db.DSN, Seed: uint64(testenv.Seed(t)), Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer // not a terminal: the final line is written as a line
	if err := g.RunWithProgress(t.Context(), 5, &out); err != nil {
		t.Fatalf("RunWithProgress: %v", err)
	}
	if got := g.Stats().Transactions; got != 5 {
		t.Errorf("Transactions = %d; want 5", got)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "5/5 tx (100%), ") || strings.Contains(last, "ETA") {
		t.Errorf("last progress line %q; want 5/5 tx (100%%) without an ETA", last)
	}
}

package benchkit

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/loadgen"
)

// Workload is the workload a Source wrote.
type Workload struct {
	// Changes and Transactions are the captured row changes and the
	// transactions committed.
	Changes, Transactions int64
	// Start is the source slot's start; End the WAL position after the load.
	Start, End capture.LSN
	// Took is how long writing took.
	Took time.Duration
	// Kind says which workload, with its parameters (Options.Describe).
	Kind string
	// Tables are its captured tables, as SQL spells them.
	Tables []string
}

// MiB is the WAL the workload spans, in MiB.
func (w Workload) MiB() float64 { return float64(w.End-w.Start) / (1 << 20) }

// writeWorkload runs o's workload's generator on dsn until at least changes
// captured row changes are committed. The end position is the WAL position
// right after; one more captured transaction follows it (MarkEnd), so that a
// reader told to stop at the first transaction committed at or after the
// end, or one that confirms commit ends, has one to see.
func writeWorkload(ctx context.Context, dsn string, conn *pgx.Conn, o Options) (Workload, error) {
	changes := o.Changes
	w := Workload{Kind: o.Describe(), Tables: o.Tables()}
	var start string
	if err := conn.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", SourceSlot).Scan(&start); err != nil {
		return w, fmt.Errorf("read source slot: %w", err)
	}
	var gen interface {
		Run(context.Context) error
		Stats() loadgen.Stats
	}
	var err error
	if o.Workload == WorkloadWide {
		wc := o.Wide
		wc.DSN, wc.Seed, wc.Count, wc.Workers = dsn, 1, 500, 2
		// The flags say 0 for none, WideConfig a negative value.
		if wc.ToastShare == 0 {
			wc.ToastShare = -1
		}
		if wc.Children == 0 {
			wc.Children = -1
		}
		gen, err = loadgen.NewWide(wc)
	} else {
		gen, err = loadgen.New(loadgen.Config{DSN: dsn, Seed: 1, Count: 500, Workers: 2})
	}
	if err != nil {
		return w, err
	}
	began := time.Now()
	for w.Changes < changes {
		if err := gen.Run(ctx); err != nil {
			return w, fmt.Errorf("load: %w", err)
		}
		w.Transactions, w.Changes = gen.Stats().Transactions, CapturedChanges(gen.Stats())
	}
	w.Took = time.Since(began)
	if w.Start, err = capture.ParseLSN(start); err != nil {
		return w, err
	}
	w.End, err = MarkEnd(ctx, conn, o.Workload)
	return w, err
}

// CapturedChanges counts the captured row changes in a generator's stats:
// those of every table but the busy, uncaptured ones (the reference
// workload's audit log, the wide workload's journal).
func CapturedChanges(st loadgen.Stats) int64 {
	var n int64
	for name, t := range st.Tables {
		if name != "audit_log" && name != loadgen.WideJournal {
			n += t.Inserted + t.Updated + t.Deleted
		}
	}
	return n
}

// MarkEnd returns the current WAL position and then commits one more
// captured transaction of workload (WorkloadReference or WorkloadWide), so that a consumer that confirms commit ends reaches
// the position once it has everything before it.
func MarkEnd(ctx context.Context, conn *pgx.Conn, workload string) (capture.LSN, error) {
	var end string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&end); err != nil {
		return 0, fmt.Errorf("read WAL position: %w", err)
	}
	sql := "UPDATE products SET product_id = product_id WHERE product_id = (SELECT min(product_id) FROM products)"
	if workload == WorkloadWide {
		sql = `UPDATE "Document" SET revision = revision WHERE "DocId" = (SELECT min("DocId") FROM "Document")`
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return 0, fmt.Errorf("write the transaction after the end: %w", err)
	}
	return capture.ParseLSN(end)
}

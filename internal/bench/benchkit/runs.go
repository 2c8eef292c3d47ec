package benchkit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/backpressure"
)

// Reader is one way of reading a slot copy to the end position, measured.
// M is what a benchmark measures of one run.
type Reader[M any] struct {
	// Name labels the reader in the progress lines and the results.
	Name string
	// Drain reads slot to the end position and measures it; last is set
	// in the last run (where a benchmark may take a CPU profile).
	Drain func(ctx context.Context, slot string, last bool) (M, error)
}

// Runs measures every reader runs times on the same WAL: in each run, for
// each reader, it copies SourceSlot (pg_copy_logical_replication_slot), has
// the reader drain the copy, calls progress with the run (from 1), the
// reader's name and its measurement, and drops the copy. Odd runs take the
// readers in reverse order, so that neither always goes first. It returns
// the measurements by reader name, in run order.
func Runs[M any](ctx context.Context, conn *pgx.Conn, runs int, readers []Reader[M], progress func(run int, name string, m M)) (map[string][]M, error) {
	results := map[string][]M{}
	for i := range runs {
		order := slices.Clone(readers)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, rd := range order {
			slot := slotName(rd.Name, i)
			if _, err := conn.Exec(ctx, "SELECT pg_copy_logical_replication_slot($1, $2)", SourceSlot, slot); err != nil {
				return nil, fmt.Errorf("copy slot %s to %s: %w", SourceSlot, slot, err)
			}
			m, err := rd.Drain(ctx, slot, i == runs-1)
			if err != nil {
				return nil, fmt.Errorf("run %d, %s: %w", i+1, rd.Name, err)
			}
			progress(i+1, rd.Name, m)
			results[rd.Name] = append(results[rd.Name], m)
			if err := DropSlot(ctx, conn, slot); err != nil {
				return nil, err
			}
		}
	}
	return results, nil
}

// slotName names reader's slot copy of run i (from 0): the reader's name
// without what a slot name may not hold.
func slotName(reader string, i int) string {
	return fmt.Sprintf("bench_%s_%d", strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r
		}
		return -1
	}, reader), i)
}

// DropSlot drops a slot, waiting (at most 30s, polling every 50ms) for its
// walsender to exit: the slot stays active until then.
func DropSlot(ctx context.Context, conn *pgx.Conn, slot string) error {
	deadline := time.Now().Add(30 * time.Second)
	poll := backpressure.Backoff{Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond, Floor: 1}
	for {
		_, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drop slot %s: %w", slot, err)
		}
		if poll.Wait(ctx, err) != nil {
			return ctx.Err()
		}
	}
}

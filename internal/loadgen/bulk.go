package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/jackc/pgx/v5"
)

// bulkLinesPerOrder is the number of lines of each order a bulk import
// writes: one order row and nine line rows make ten rows per order.
const bulkLinesPerOrder = 9

// BigTx writes exactly rows rows in one transaction: a marketplace import
// of new orders with nine lines each, streamed with COPY so that neither
// the generator nor PostgreSQL holds them in memory at once. It is the
// load for memory tests of a consumer that must not hold a transaction
// whole. An empty database first gets its catalogue in a transaction of
// its own. The rows depend only on the seed and the starting database. It
// blocks until the transaction has committed and adds to Stats.
func (g *Generator) BigTx(ctx context.Context, rows int) error {
	if rows < 1 {
		return errors.New("big transaction: rows must be at least 1")
	}
	conn, err := pgx.Connect(ctx, g.cfg.DSN)
	if err != nil {
		return fmt.Errorf("big transaction: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st, err := loadState(ctx, conn, g.cfg.Epoch)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.st = st
	g.mu.Unlock()
	w := &worker{g: g, conn: conn, rng: rand.New(rand.NewPCG(g.cfg.Seed, 1<<32))}
	if len(st.products) == 0 {
		g.mu.Lock()
		st.loadingCatalogue = true
		run := w.planCatalogue(st, st.tick(w.rng))
		g.mu.Unlock()
		if err := run(ctx); err != nil {
			return err
		}
	}
	if len(st.customers) == 0 {
		return errors.New("big transaction: the database has products but no customers to order them")
	}
	now := st.tick(w.rng)
	local := now.In(g.zone)
	orders := (rows + bulkLinesPerOrder) / (bulkLinesPerOrder + 1)
	lines := rows - orders

	// linesOf regenerates order i's lines from a source of its own, so the
	// orders COPY (which needs the totals) and the lines COPY (which comes
	// after it, for the foreign key) see the same lines without keeping
	// them.
	linesOf := func(i int) []orderLine {
		n := min(bulkLinesPerOrder, lines-i*bulkLinesPerOrder)
		if n <= 0 {
			return nil
		}
		r := rand.New(rand.NewPCG(g.cfg.Seed, uint64(i)))
		out := make([]orderLine, n)
		for j := range out {
			out[j] = orderLine{product: st.products[r.IntN(len(st.products))], quantity: 1 + r.IntN(20)}
		}
		return out
	}
	return w.tx(ctx, "big transaction", func(tx pgx.Tx, d delta) error {
		var first int64
		// Reserve the order ids in one step: setval moves the sequence
		// past them, so the application's own inserts never collide.
		err := tx.QueryRow(ctx, `SELECT setval('orders_order_id_seq', greatest(
			(SELECT coalesce(max(order_id), 0) FROM orders),
			(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM orders_order_id_seq)) + $1) - $1 + 1`, orders).Scan(&first)
		if err != nil {
			return fmt.Errorf("reserve order ids: %w", err)
		}
		customers := st.customers
		i := 0
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"orders"},
			[]string{"order_id", "customer_id", "status", "total", "shipping_address", "createdBy", "ordered_at", "updated_at"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == orders {
					return nil, nil
				}
				var total int64
				for _, l := range linesOf(i) {
					total += l.cents()
				}
				c := customers[i%len(customers)]
				row := []any{first + int64(i), c, "N", money(total),
					map[string]any{"name": "Marketplace customer", "city": "Berlin", "zip": "10115", "country": "DE"},
					"import:marketplace", local, now}
				i++
				return row, nil
			}))
		if err != nil {
			return fmt.Errorf("copy orders: %w", err)
		}
		d.add("orders", n, 0, 0)
		i, j := 0, 0
		var cur []orderLine
		n, err = tx.CopyFrom(ctx, pgx.Identifier{"order_lines"},
			[]string{"order_id", "line_no", "product_id", "quantity", "unit_price", "discount"},
			pgx.CopyFromFunc(func() ([]any, error) {
				for j >= len(cur) {
					if i*bulkLinesPerOrder >= lines {
						return nil, nil
					}
					cur, j = linesOf(i), 0
					i++
				}
				l := cur[j]
				j++
				return []any{first + int64(i-1), j, l.product.id, l.quantity, money(l.product.cents), money(0)}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy order lines: %w", err)
		}
		d.add("order_lines", n, 0, 0)
		return nil
	})
}

package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// state is what the generator knows of the database: which orders are in
// which open state, the customers and the catalogue, and the logical clock.
// It is loaded once per Run and then kept in step by the transactions.
type state struct {
	clock     time.Time
	customers []int32
	products  []product
	// open orders by status: N new, C confirmed, S shipped, V delivered.
	// Orders in D, R and X are finished and leave these pools.
	orders map[byte]*pool
	// unpaid holds confirmed, shipped or delivered orders without payment.
	unpaid *pool
	// nextCustomer numbers the next new customer's e-mail address.
	nextCustomer int64
	// loadingCatalogue is set while a worker loads the first catalogue.
	loadingCatalogue bool
}

type product struct {
	id    int32
	cents int64
}

// tick advances the logical clock by a seeded step and returns it.
func (s *state) tick(r *rand.Rand) time.Time {
	s.clock = s.clock.Add(time.Duration(1+r.IntN(120))*time.Second + time.Duration(r.IntN(1000))*time.Millisecond)
	return s.clock
}

// pool is a set of order ids that supports taking a random member in O(1)
// with an order that depends only on the operations done, so a seeded run
// repeats.
type pool struct {
	ids []int64
	at  map[int64]int
}

func newPool() *pool { return &pool{at: map[int64]int{}} }

func (p *pool) len() int { return len(p.ids) }

func (p *pool) add(id int64) {
	if _, ok := p.at[id]; ok {
		return
	}
	p.at[id] = len(p.ids)
	p.ids = append(p.ids, id)
}

// remove deletes id and reports whether it was there.
func (p *pool) remove(id int64) bool {
	i, ok := p.at[id]
	if !ok {
		return false
	}
	last := p.ids[len(p.ids)-1]
	p.ids[i] = last
	p.at[last] = i
	p.ids = p.ids[:len(p.ids)-1]
	delete(p.at, id)
	return true
}

// take removes and returns a random member; p must not be empty.
func (p *pool) take(r *rand.Rand) int64 {
	id := p.ids[r.IntN(len(p.ids))]
	p.remove(id)
	return id
}

// loadState reads what the generator needs to know from the database, in
// a stable order so that a seeded run repeats.
func loadState(ctx context.Context, conn *pgx.Conn, epoch time.Time) (*state, error) {
	s := &state{clock: epoch.UTC(), unpaid: newPool(), orders: map[byte]*pool{}}
	for _, st := range []byte("NCSV") {
		s.orders[st] = newPool()
	}
	var newest *time.Time
	err := conn.QueryRow(ctx, `SELECT greatest(
		(SELECT max(updated_at) FROM customers), (SELECT max(updated_at) FROM products),
		(SELECT max(updated_at) FROM orders), (SELECT max(paid_at) FROM payments),
		(SELECT max(logged_at) FROM audit_log))`).Scan(&newest)
	if err != nil {
		return nil, fmt.Errorf("read clock (is the order schema loaded?): %w", err)
	}
	if newest != nil && newest.After(s.clock) {
		s.clock = newest.UTC()
	}
	rows, err := conn.Query(ctx, `SELECT customer_id FROM customers ORDER BY customer_id`)
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	if s.customers, err = pgx.CollectRows(rows, pgx.RowTo[int32]); err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	rows, err = conn.Query(ctx, `SELECT product_id, (unit_price * 100)::bigint FROM products ORDER BY product_id`)
	if err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	s.products, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (product, error) {
		var p product
		return p, r.Scan(&p.id, &p.cents)
	})
	if err != nil {
		return nil, fmt.Errorf("read products: %w", err)
	}
	s.nextCustomer = int64(len(s.customers)) + 1
	rows, err = conn.Query(ctx, `SELECT order_id, status, status IN ('C', 'S', 'V')
		AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.order_id)
		FROM orders o WHERE status IN ('N', 'C', 'S', 'V') ORDER BY order_id`)
	if err != nil {
		return nil, fmt.Errorf("read open orders: %w", err)
	}
	var (
		id     int64
		status string
		unpaid bool
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &status, &unpaid}, func() error {
		s.orders[status[0]].add(id)
		if unpaid {
			s.unpaid.add(id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read open orders: %w", err)
	}
	return s, nil
}

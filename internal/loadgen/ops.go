package loadgen

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// An op is one kind of application transaction. weight is its relative
// frequency among the ops that can run; ready says whether it can run now
// (its pool is not empty).
type op struct {
	name   string
	weight int
	ready  func(s *state) bool
	// plan runs under the generator's lock: it claims what the transaction
	// will change (taking an order out of its pool) and returns the
	// transaction, which runs without the lock.
	plan func(w *worker, s *state, now time.Time) func(ctx context.Context) error
}

func hasOrders(status byte) func(*state) bool {
	return func(s *state) bool { return s.orders[status].len() > 0 }
}

var ops = []op{
	{"place order", 25, func(s *state) bool { return len(s.customers) > 0 && len(s.products) > 0 }, (*worker).planPlace},
	{"confirm order", 18, hasOrders('N'), (*worker).planConfirm},
	{"decline order", 3, hasOrders('N'), (*worker).planDecline},
	{"amend order", 3, hasOrders('N'), (*worker).planAmend},
	{"cancel order", 3, func(s *state) bool { return s.orders['N'].len()+s.orders['C'].len() > 0 }, (*worker).planCancel},
	{"pay order", 14, func(s *state) bool { return s.unpaid.len() > 0 }, (*worker).planPay},
	{"ship order", 14, hasOrders('C'), (*worker).planShip},
	{"deliver order", 12, hasOrders('S'), (*worker).planDeliver},
	{"return order", 2, hasOrders('V'), (*worker).planReturn},
	{"new customer", 5, func(*state) bool { return true }, (*worker).planNewCustomer},
	{"update customer", 6, func(s *state) bool { return len(s.customers) > 0 }, (*worker).planUpdateCustomer},
	{"change price", 2, func(s *state) bool { return len(s.products) > 0 }, (*worker).planPrice},
	{"audit noise", 8, func(*state) bool { return true }, (*worker).planAuditNoise},
	{"purge audit", 1, func(*state) bool { return true }, (*worker).planPurgeAudit},
}

// step picks one transaction, claims what it changes and runs it.
func (w *worker) step(ctx context.Context) error {
	g := w.g
	g.mu.Lock()
	s := g.st
	now := s.tick(w.rng)
	var run func(context.Context) error
	if len(s.products) == 0 && !s.loadingCatalogue {
		s.loadingCatalogue = true
		run = w.planCatalogue(s, now)
	} else {
		total := 0
		for _, o := range ops {
			if o.ready(s) {
				total += o.weight
			}
		}
		n := w.rng.IntN(total)
		for _, o := range ops {
			if !o.ready(s) {
				continue
			}
			if n -= o.weight; n < 0 {
				run = o.plan(w, s, now)
				break
			}
		}
	}
	g.mu.Unlock()
	return run(ctx)
}

// after runs fn under the generator's lock, to update the state once a
// transaction has committed.
func (w *worker) after(fn func(s *state)) {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	fn(w.g.st)
}

func money(cents int64) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(cents), Exp: -2, Valid: true}
}

// audit writes one row of the busy, uncaptured audit log.
func audit(ctx context.Context, tx pgx.Tx, d delta, now time.Time, actor, action, entity string, id int64, details map[string]any) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (logged_at, actor, action, entity, entity_id, details)
		VALUES ($1, $2, $3, $4, $5, $6)`, now, actor, action, entity, id, details)
	if err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	d.add("audit_log", 1, 0, 0)
	return nil
}

// exec runs one statement and records its rows under table.
func exec(ctx context.Context, tx pgx.Tx, d delta, table string, kind byte, sql string, args ...any) (int64, error) {
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("change %s: %w", table, err)
	}
	n := tag.RowsAffected()
	switch kind {
	case 'I':
		d.add(table, n, 0, 0)
	case 'U':
		d.add(table, 0, n, 0)
	case 'D':
		d.add(table, 0, 0, n)
	}
	return n, nil
}

// execOne is exec for a statement that must change exactly one row: an
// order that is not in the state the generator believes means someone
// else changed the database, and the run stops rather than drift.
func execOne(ctx context.Context, tx pgx.Tx, d delta, table string, kind byte, sql string, args ...any) error {
	n, err := exec(ctx, tx, d, table, kind, sql, args...)
	if err == nil && n != 1 {
		err = fmt.Errorf("change %s: %d rows changed, want 1 (was the database changed behind the generator?)", table, n)
	}
	return err
}

func (w *worker) planCatalogue(s *state, now time.Time) func(context.Context) error {
	r := w.rng
	firstCustomer := s.nextCustomer
	s.nextCustomer += 25
	return func(ctx context.Context) error {
		var prods []product
		var custs []int32
		err := w.tx(ctx, "load catalogue", func(tx pgx.Tx, d delta) error {
			local := now.In(w.g.zone)
			for i := 1; i <= 40; i++ {
				colour := pick(r, colours)
				cents := int64(499 + r.IntN(250)*100)
				attrs := map[string]any{"colour": colour, "size": pick(r, sizes), "weight_g": 100 + r.IntN(4900)}
				var id int32
				err := tx.QueryRow(ctx, `INSERT INTO products (sku, title, unit_price, attributes, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $5, $6) RETURNING product_id`,
					fmt.Sprintf("SKU-%05d", i), pick(r, adjectives)+" "+pick(r, nouns)+" "+colour,
					money(cents), attrs, local, now).Scan(&id)
				if err != nil {
					return fmt.Errorf("insert product: %w", err)
				}
				d.add("products", 1, 0, 0)
				prods = append(prods, product{id: id, cents: cents})
			}
			for i := 1; i <= 25; i++ {
				id, err := insertCustomer(ctx, tx, d, r, firstCustomer+int64(i)-1, local, now)
				if err != nil {
					return err
				}
				custs = append(custs, id)
			}
			return audit(ctx, tx, d, now, "import:catalogue", "load", "catalogue", 0, nil)
		})
		w.after(func(s *state) {
			s.loadingCatalogue = false
			if err == nil {
				s.products = prods
				s.customers = append(s.customers, custs...)
			}
		})
		return err
	}
}

func insertCustomer(ctx context.Context, tx pgx.Tx, d delta, r *rand.Rand, n int64, local, now time.Time) (int32, error) {
	first, last := pick(r, firstNames), pick(r, lastNames)
	var id int32
	err := tx.QueryRow(ctx, `INSERT INTO customers (email, full_name, phone, country, tags, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING customer_id`,
		fmt.Sprintf("customer%06d@example.com", n), first+" "+last, phone(r),
		pick(r, cities).country, tags(r), local, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert customer: %w", err)
	}
	d.add("customers", 1, 0, 0)
	return id, nil
}

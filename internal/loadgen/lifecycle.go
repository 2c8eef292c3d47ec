package loadgen

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// orderLine is a line as placed, before it has an order id.
type orderLine struct {
	product  product
	quantity int
	discount int // percent
}

// cents is the line's amount, rounded half up to the cent as the shop's
// stored procedure always did.
func (l orderLine) cents() int64 {
	return (l.product.cents*int64(l.quantity)*int64(100-l.discount) + 50) / 100
}

func (w *worker) planPlace(s *state, now time.Time) func(context.Context) error {
	r := w.rng
	customer := s.customers[r.IntN(len(s.customers))]
	n := 1 + r.IntN(6)
	if r.IntN(10) == 0 {
		n += 6
	}
	n = min(n, len(s.products))
	lines := make([]orderLine, n)
	for i, p := range r.Perm(len(s.products))[:n] {
		lines[i] = orderLine{product: s.products[p], quantity: 1 + r.IntN(4)}
		if r.IntN(5) == 0 {
			lines[i].discount = 5 * (1 + r.IntN(3))
		}
	}
	return func(ctx context.Context) error {
		var total int64
		for _, l := range lines {
			total += l.cents()
		}
		var notes *string
		switch k := r.IntN(100); {
		case k < 2:
			t := bigText(r, 12_000+r.IntN(28_000))
			notes = &t
		case k < 17:
			t := sentence(r, 5+r.IntN(20))
			notes = &t
		}
		creator := pick(r, creators)
		addr := address(r, pick(r, firstNames)+" "+pick(r, lastNames))
		var id int64
		err := w.tx(ctx, "place order", func(tx pgx.Tx, d delta) error {
			err := tx.QueryRow(ctx, `INSERT INTO orders (customer_id, status, total, shipping_address, notes, "createdBy", ordered_at, updated_at)
				VALUES ($1, 'N', $2, $3, $4, $5, $6, $7) RETURNING order_id`,
				customer, money(total), addr, notes, creator, now.In(w.g.zone), now).Scan(&id)
			if err != nil {
				return fmt.Errorf("insert order: %w", err)
			}
			d.add("orders", 1, 0, 0)
			for i, l := range lines {
				_, err := exec(ctx, tx, d, "order_lines", 'I', `INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount)
					VALUES ($1, $2, $3, $4, $5, $6)`, id, i+1, l.product.id, l.quantity, money(l.product.cents), money(int64(l.discount)*100))
				if err != nil {
					return err
				}
			}
			return audit(ctx, tx, d, now, creator, "place", "order", id, map[string]any{"lines": len(lines)})
		})
		if err == nil {
			w.after(func(s *state) { s.orders['N'].add(id) })
		}
		return err
	}
}

// setStatus moves order id from status from to status to, with an audit row.
func (w *worker) setStatus(ctx context.Context, tx pgx.Tx, d delta, id int64, from, to byte, now time.Time, actor string) error {
	err := execOne(ctx, tx, d, "orders", 'U', `UPDATE orders SET status = $2, updated_at = $3 WHERE order_id = $1 AND status = $4`,
		id, string(to), now, string(from))
	if err != nil {
		return fmt.Errorf("order %d %c->%c: %w", id, from, to, err)
	}
	return audit(ctx, tx, d, now, actor, "status", "order", id, map[string]any{"from": string(from), "to": string(to)})
}

// transition is the plan of an op that only moves an order from one open
// status to the next and changes rows around it with more.
func (w *worker) transition(name string, id int64, from, to byte, now time.Time, more func(ctx context.Context, tx pgx.Tx, d delta) error, done func(s *state)) func(context.Context) error {
	return func(ctx context.Context) error {
		err := w.tx(ctx, name, func(tx pgx.Tx, d delta) error {
			if err := w.setStatus(ctx, tx, d, id, from, to, now, "backoffice"); err != nil {
				return err
			}
			if more != nil {
				return more(ctx, tx, d)
			}
			return nil
		})
		if err == nil {
			w.after(func(s *state) {
				if p := s.orders[to]; p != nil {
					p.add(id)
				}
				if done != nil {
					done(s)
				}
			})
		}
		return err
	}
}

// refund books negative payments for what order id was paid, if anything.
func refund(ctx context.Context, tx pgx.Tx, d delta, id int64, now time.Time) error {
	_, err := exec(ctx, tx, d, "payments", 'I', `INSERT INTO payments (order_id, method, amount, reference, paid_at)
		SELECT order_id, method, -amount, 'REFUND-' || payment_id, $2 FROM payments
		WHERE order_id = $1 AND amount > 0 ORDER BY payment_id`, id, now)
	return err
}

func (w *worker) planConfirm(s *state, now time.Time) func(context.Context) error {
	id := s.orders['N'].take(w.rng)
	return w.transition("confirm order", id, 'N', 'C', now, nil, func(s *state) { s.unpaid.add(id) })
}

func (w *worker) planDecline(s *state, now time.Time) func(context.Context) error {
	id := s.orders['N'].take(w.rng)
	return w.transition("decline order", id, 'N', 'D', now, nil, nil)
}

func (w *worker) planCancel(s *state, now time.Time) func(context.Context) error {
	from := byte('N')
	if s.orders['N'].len() == 0 || (s.orders['C'].len() > 0 && w.rng.IntN(2) == 0) {
		from = 'C'
	}
	id := s.orders[from].take(w.rng)
	paid := from == 'C' && !s.unpaid.remove(id)
	return w.transition("cancel order", id, from, 'X', now, func(ctx context.Context, tx pgx.Tx, d delta) error {
		if paid {
			return refund(ctx, tx, d, id, now)
		}
		return nil
	}, nil)
}

func (w *worker) planShip(s *state, now time.Time) func(context.Context) error {
	id := s.orders['C'].take(w.rng)
	carrier := pick(w.rng, carriers)
	tracking := fmt.Sprintf("%s%012d", carrier[:2], w.rng.Int64N(1e12))
	return w.transition("ship order", id, 'C', 'S', now, func(ctx context.Context, tx pgx.Tx, d delta) error {
		_, err := exec(ctx, tx, d, "ShipmentTracking", 'I', `INSERT INTO "ShipmentTracking" (order_id, carrier, "trackingNo", shipped_at)
			VALUES ($1, $2, $3, $4)`, id, carrier, tracking, now.In(w.g.zone))
		return err
	}, nil)
}

func (w *worker) planDeliver(s *state, now time.Time) func(context.Context) error {
	id := s.orders['S'].take(w.rng)
	return w.transition("deliver order", id, 'S', 'V', now, func(ctx context.Context, tx pgx.Tx, d delta) error {
		_, err := exec(ctx, tx, d, "ShipmentTracking", 'U', `UPDATE "ShipmentTracking" SET delivered_at = $2 WHERE order_id = $1`, id, now.In(w.g.zone))
		return err
	}, nil)
}

func (w *worker) planReturn(s *state, now time.Time) func(context.Context) error {
	id := s.orders['V'].take(w.rng)
	paid := !s.unpaid.remove(id)
	return w.transition("return order", id, 'V', 'R', now, func(ctx context.Context, tx pgx.Tx, d delta) error {
		_, err := exec(ctx, tx, d, "ShipmentTracking", 'U', `UPDATE "ShipmentTracking" SET returned_at = $2 WHERE order_id = $1`, id, now.In(w.g.zone))
		if err != nil || !paid {
			return err
		}
		return refund(ctx, tx, d, id, now)
	}, nil)
}

func (w *worker) planPay(s *state, now time.Time) func(context.Context) error {
	id := s.unpaid.take(w.rng)
	method := pick(w.rng, methods)
	ref := fmt.Sprintf("PAY-%010d", w.rng.Int64N(1e10))
	return func(ctx context.Context) error {
		return w.tx(ctx, "pay order", func(tx pgx.Tx, d delta) error {
			err := execOne(ctx, tx, d, "payments", 'I', `INSERT INTO payments (order_id, method, amount, reference, paid_at)
				SELECT order_id, $2, total, $3, $4 FROM orders WHERE order_id = $1`, id, method, ref, now)
			if err != nil {
				return fmt.Errorf("order %d: %w", id, err)
			}
			return audit(ctx, tx, d, now, "payment-gateway", "pay", "order", id, map[string]any{"method": method})
		})
	}
}

// planAmend changes a new order the customer called about: one line
// dropped, or a quantity raised, and the total recomputed.
func (w *worker) planAmend(s *state, now time.Time) func(context.Context) error {
	id := s.orders['N'].take(w.rng)
	drop := w.rng.IntN(2) == 0
	return func(ctx context.Context) error {
		err := w.tx(ctx, "amend order", func(tx pgx.Tx, d delta) error {
			var lines, last int
			err := tx.QueryRow(ctx, `SELECT count(*), coalesce(max(line_no), 0) FROM order_lines WHERE order_id = $1`, id).Scan(&lines, &last)
			if err != nil {
				return fmt.Errorf("read lines of order %d: %w", id, err)
			}
			if lines == 0 {
				return fmt.Errorf("order %d has no lines", id)
			}
			if drop && lines > 1 {
				err = execOne(ctx, tx, d, "order_lines", 'D', `DELETE FROM order_lines WHERE order_id = $1 AND line_no = $2`, id, last)
			} else {
				err = execOne(ctx, tx, d, "order_lines", 'U', `UPDATE order_lines SET quantity = quantity + 1
					WHERE order_id = $1 AND line_no = (SELECT min(line_no) FROM order_lines WHERE order_id = $1)`, id)
			}
			if err != nil {
				return err
			}
			err = execOne(ctx, tx, d, "orders", 'U', `UPDATE orders SET updated_at = $2,
				total = (SELECT sum(round(quantity * unit_price * (100 - discount) / 100, 2)) FROM order_lines WHERE order_id = $1)
				WHERE order_id = $1 AND status = 'N'`, id, now)
			if err != nil {
				return err
			}
			return audit(ctx, tx, d, now, "callcenter:agent07", "amend", "order", id, nil)
		})
		if err == nil {
			w.after(func(s *state) { s.orders['N'].add(id) })
		}
		return err
	}
}

func (w *worker) planNewCustomer(s *state, now time.Time) func(context.Context) error {
	n := s.nextCustomer
	s.nextCustomer++
	return func(ctx context.Context) error {
		var id int32
		err := w.tx(ctx, "new customer", func(tx pgx.Tx, d delta) error {
			var err error
			if id, err = insertCustomer(ctx, tx, d, w.rng, n, now.In(w.g.zone), now); err != nil {
				return err
			}
			return audit(ctx, tx, d, now, "web", "signup", "customer", int64(id), nil)
		})
		if err == nil {
			w.after(func(s *state) { s.customers = append(s.customers, id) })
		}
		return err
	}
}

// planUpdateCustomer changes a customer's phone and segments; now and then
// support pastes a long e-mail thread into the remarks (TOASTed).
func (w *worker) planUpdateCustomer(s *state, now time.Time) func(context.Context) error {
	r := w.rng
	id := s.customers[r.IntN(len(s.customers))]
	return func(ctx context.Context) error {
		var remarks *string
		switch k := r.IntN(10); {
		case k == 0:
			t := bigText(r, 8_000+r.IntN(22_000))
			remarks = &t
		case k < 4:
			t := sentence(r, 4+r.IntN(12))
			remarks = &t
		}
		ph, tg := phone(r), tags(r)
		return w.tx(ctx, "update customer", func(tx pgx.Tx, d delta) error {
			err := execOne(ctx, tx, d, "customers", 'U', `UPDATE customers SET phone = $2, tags = $3,
				remarks = coalesce($4, remarks), updated_at = $5 WHERE customer_id = $1`, id, ph, tg, remarks, now)
			if err != nil {
				return err
			}
			return audit(ctx, tx, d, now, "support", "update", "customer", int64(id), nil)
		})
	}
}

func (w *worker) planPrice(s *state, now time.Time) func(context.Context) error {
	r := w.rng
	i := r.IntN(len(s.products))
	p := s.products[i]
	cents := max(99, p.cents+int64(r.IntN(2001))-1000)
	return func(ctx context.Context) error {
		err := w.tx(ctx, "change price", func(tx pgx.Tx, d delta) error {
			err := execOne(ctx, tx, d, "products", 'U', `UPDATE products SET unit_price = $2, updated_at = $3,
				attributes = attributes || jsonb_build_object('previous_price', $4::text) WHERE product_id = $1`,
				p.id, money(cents), now, money(p.cents))
			if err != nil {
				return err
			}
			return audit(ctx, tx, d, now, "pricing-job", "reprice", "product", int64(p.id), nil)
		})
		if err == nil {
			w.after(func(s *state) {
				if j := slices.IndexFunc(s.products, func(q product) bool { return q.id == p.id }); j >= 0 {
					s.products[j].cents = cents
				}
			})
		}
		return err
	}
}

// planAuditNoise is the traffic that touches only the audit log: logins
// and searches. A capture of the order tables sees none of it.
func (w *worker) planAuditNoise(s *state, now time.Time) func(context.Context) error {
	r := w.rng
	n := 1 + r.IntN(4)
	var customer int64
	if len(s.customers) > 0 {
		customer = int64(s.customers[r.IntN(len(s.customers))])
	}
	return func(ctx context.Context) error {
		return w.tx(ctx, "audit noise", func(tx pgx.Tx, d delta) error {
			for i := range n {
				action := pick(r, []string{"login", "search", "view"})
				err := audit(ctx, tx, d, now.Add(time.Duration(i)*time.Millisecond), "web", action, "customer", customer,
					map[string]any{"ip": fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))})
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// planPurgeAudit is the housekeeping job that deletes the oldest audit rows.
// Rows another worker's purge holds are skipped: two purges locking the same
// rows in different orders would deadlock.
func (w *worker) planPurgeAudit(_ *state, _ time.Time) func(context.Context) error {
	n := 10 + w.rng.IntN(40)
	return func(ctx context.Context) error {
		return w.tx(ctx, "purge audit", func(tx pgx.Tx, d delta) error {
			_, err := exec(ctx, tx, d, "audit_log", 'D', `DELETE FROM audit_log WHERE audit_id IN
				(SELECT audit_id FROM audit_log ORDER BY audit_id LIMIT $1 FOR UPDATE SKIP LOCKED)`, n)
			return err
		})
	}
}

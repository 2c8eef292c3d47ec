package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// TestIntegrationReferenceMapping captures the reference order database from a
// real PostgreSQL (schema.sql, with orders at REPLICA IDENTITY FULL as the
// mapping asks) and maps what capture hands on with the reference mapping:
// the live schema passes the mapping's check, the snapshot gives state events,
// and one order's transactions give its coordination acts, with no dead
// letter.
func TestIntegrationReferenceMapping(t *testing.T) {
	const dir = "../../deploy/examples/orders"
	schema, err := os.ReadFile(dir + "/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, string(schema))
	db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL;
		INSERT INTO customers (email, full_name, phone, tags, remarks, created_at, updated_at)
			VALUES ('ada@example.org', 'Ada', '+44 1', '{vip,NULL}', 'private', '2026-03-29 02:30:00', now());
		INSERT INTO products (sku, title, unit_price, attributes, created_at, updated_at)
			VALUES ('TEA-1', 'Tea', 12.50, '{"weight_g": 500}', '2020-01-01', now());`)
	m, err := config.LoadMappingFile(dir+"/mapping.yaml", nil, "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		events []pipeline.Event
		tables []*capture.Relation
	)
	emit := func(e pipeline.Event) { events = append(events, e) }
	handle := func(_ context.Context, msgs []capture.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, msg := range msgs {
			var err error
			switch x := msg.(type) {
			case *capture.Connected:
				mp.Connected(x)
			case *capture.Begin:
				mp.Begin(x)
			case *capture.Change:
				err = mp.Change(x, emit)
			case *capture.Commit:
				err = mp.Commit(x, emit)
			case *capture.Marker:
				if x.Kind == capture.MarkerSnapshotBegin {
					tables = x.Tables
				}
				mp.Marker(x, emit)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	r, err := replication.New(replication.Config{
		DSN:               db.DSN,
		Slot:              "cdcflow_mapping_test",
		Publication:       "cdcflow_mapping_test",
		Tables:            []string{"customers", "products", "orders", "order_lines", "payments", `"ShipmentTracking"`},
		HeartbeatInterval: 200 * time.Millisecond,
		StatusInterval:    time.Second,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = r.Run(ctx, handle); close(done) }()
	defer func() { cancel(); <-done }()
	types := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, e := range events {
			out = append(out, e.Type)
		}
		return out
	}
	await := func(what, typ string) {
		testenv.Await(t, 60*time.Second, what, func() (bool, error) {
			select {
			case <-done:
				t.Fatalf("capture stopped: %v", runErr)
			default:
			}
			return strings.Contains(strings.Join(types(), " "), typ), nil
		})
	}
	await("the snapshot", pipeline.SnapshotEndType)

	// The live schema, as capture read it, passes the mapping's check.
	mu.Lock()
	live := pipeline.SchemaOf(tables...)
	mu.Unlock()
	if _, err := config.LoadMappingFile(dir+"/mapping.yaml", live, "Europe/Berlin"); err != nil {
		t.Fatalf("reference mapping against the live schema: %v", err)
	}

	db.Exec(t, `BEGIN;
		INSERT INTO orders (customer_id, status, total, shipping_address, notes, "createdBy", ordered_at, updated_at)
			VALUES (1, 'N', 33.75, '{"city": "Berlin"}', repeat('n', 20000), 'app', '2026-10-25 02:30:00', now());
		INSERT INTO order_lines VALUES (1, 1, 1, 1, 12.50, 0), (1, 2, 1, 2, 12.50, 15);
		INSERT INTO payments (order_id, method, amount, reference, paid_at) VALUES (1, 'card', 33.75, 'ch_1', now());
		COMMIT`)
	db.Exec(t, `UPDATE orders SET status = 'C', updated_at = now() WHERE order_id = 1`)
	db.Exec(t, `UPDATE orders SET total = 40, updated_at = now() WHERE order_id = 1`)
	db.Exec(t, `INSERT INTO "ShipmentTracking" (order_id, carrier, "trackingNo", shipped_at) VALUES (1, 'DHL', 'J1', '2026-11-23 10:00')`)
	db.Exec(t, `UPDATE orders SET status = 'S', updated_at = now() WHERE order_id = 1`)
	db.Exec(t, `UPDATE customers SET full_name = 'Ada King', phone = '+44 2' WHERE customer_id = 1`)
	await("the last event", "CustomerUpdated")

	all := strings.Join(types(), " ")
	mu.Lock()
	defer mu.Unlock()
	var order []string
	for _, e := range events {
		if e.DeadLetter {
			t.Errorf("dead letter: %s", e.Data)
		}
		if e.AggregateType == "order" && e.AggregateID == "1" {
			order = append(order, e.Type)
		}
		if strings.Contains(string(e.Data), "+44") || strings.Contains(string(e.Data), "private") {
			t.Errorf("%s carries an excluded column: %s", e.Type, e.Data)
		}
		if e.Type == "OrderRequested" && !strings.Contains(string(e.Data), `"lines":[{"line_no":1,`) {
			t.Errorf("OrderRequested did not gather its lines: %.300s", e.Data)
		}
	}
	want := "OrderRequested PaymentReceived OrderPromised OrderAmended ShipmentTracked OrderDeclared"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order 1 events = %s; want %s", got, want)
	}
	for _, w := range []string{"CustomerStateObserved", "ProductStateObserved", "CustomerUpdated"} {
		if !strings.Contains(all, w) {
			t.Errorf("events %s; want a %s", all, w)
		}
	}
}

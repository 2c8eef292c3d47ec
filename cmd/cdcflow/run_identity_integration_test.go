package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// lostFull is a run of the reference order database that stopped twice on
// an update written while public.orders (whose rules read the old status)
// was REPLICA IDENTITY DEFAULT: once while it streamed, and once more after
// FULL was restored, as the restart met the same change.
type lostFull struct {
	db     *testenv.DB
	broker *testenv.KafkaServer
	slot   string
	env    []string
	p      *runProc
	fold   *orderFold
	order  string // the order updated without the old row, then again with FULL back
	seed   uint64
}

// The start of the failure of a change written without the old row.
const lostFullMsg = "table public.orders lost REPLICA IDENTITY FULL (it was DEFAULT when the change was written)"

// newLostFull streams the reference orders, flips public.orders to REPLICA
// IDENTITY DEFAULT and updates an order: run must stop (exit 1) saying the
// table lost FULL. With FULL restored and the order updated again, the
// restart must stop again on the same change, now saying both ways past it
// and naming the slot.
func newLostFull(t *testing.T, prefix string) *lostFull {
	t.Helper()
	ctx := t.Context()
	s := &lostFull{db: testenv.Postgres(t).NewDatabase(t), seed: uint64(testenv.Seed(t))}
	if err := loadgen.Init(ctx, s.db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrders(ctx, s.db.DSN, s.seed, 50, 0); err != nil { // taken by the snapshot
		t.Fatal(err)
	}
	installAudit(t, s.db)
	s.broker = testenv.Kafka(t)
	s.slot, s.env = ordersRunEnv(t, s.db, s.broker.Addrs(), prefix)
	s.p = startRun(t, s.env...)
	s.fold = newOrderFold(consumer(t, s.broker.Addrs(), "shop.order"))
	awaitSnapshot(t, ctx, s.p, s.fold)

	s.order = testenv.QueryValue[string](t, s.db, `SELECT min(order_id)::text FROM orders WHERE status NOT IN ('C', 'S')`)
	s.db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY DEFAULT`)
	s.db.Exec(t, `UPDATE orders SET status = 'C' WHERE order_id = $1::bigint`, s.order) // written without the old row
	awaitRunFailure(t, s.p, lostFullMsg)

	// FULL again: later changes carry their old row, the one above does not.
	s.db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL`)
	s.db.Exec(t, `UPDATE orders SET status = 'S' WHERE order_id = $1::bigint`, s.order)
	s.p.start()
	out := awaitRunFailure(t, s.p, lostFullMsg)
	for _, want := range []string{
		"ALTER TABLE public.orders REPLICA IDENTITY FULL",
		"restart once with CDCFLOW_MAPPING_ON_BROKEN_RULE=dead_letter",
		"go to shop.deadletter with this reason",
		fmt.Sprintf("SELECT pg_drop_replication_slot('%s')", s.slot),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the restart's failure does not say %q:\n%s", want, out)
		}
	}
	t.Logf("the restart's failure:\n%s", out)
	return s
}

// TestIntegrationRunIdentityLostFullDeadLetter takes the first way past a
// lost REPLICA IDENTITY FULL as the message words it: a restart with
// CDCFLOW_MAPPING_ON_BROKEN_RULE=dead_letter passes the change written
// without the old row to the dead-letter topic with the reason, maps the
// changes written after FULL came back (with their old values) and the
// inserts, loses no other event, and a restart without the override then
// runs on.
func TestIntegrationRunIdentityLostFullDeadLetter(t *testing.T) {
	ctx := t.Context()
	s := newLostFull(t, "identity_dl")
	db, broker, env, p, fold, order, seed := s.db, s.broker, s.env, s.p, s.fold, s.order, s.seed
	// Way 1: dead-letter the change written without the old row, once.
	p.env = append(env, "CDCFLOW_MAPPING_ON_BROKEN_RULE=dead_letter")
	p.start()
	if _, err := loadOrders(ctx, db.DSN, seed+1, 20, 0); err != nil {
		t.Fatal(err)
	}
	dead := consumer(t, broker.Addrs(), "shop.deadletter")
	var letters []pipeline.DeadLetter
	testenv.Await(t, 60*time.Second, "the change written without the old row on shop.deadletter", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		return len(letters) > 0, pollEvents(ctx, dead, func(_ *kgo.Record, ev pipeline.Event) error {
			var dl pipeline.DeadLetter
			if err := json.Unmarshal(ev.Data, &dl); err != nil {
				return fmt.Errorf("decode dead letter: %w", err)
			}
			letters = append(letters, dl)
			return nil
		})
	})
	awaitConvergedBut(t, p, db, fold, order+" OrderPromised")
	if len(letters) != 1 {
		t.Fatalf("%d dead letters; want 1 (the update written without the old row): %+v", len(letters), letters)
	}
	dl := letters[0]
	if !strings.Contains(dl.Reason, lostFullMsg) || dl.Table != "public.orders" || dl.Op != "update" || !strings.Contains(string(dl.Key), order) {
		t.Errorf("dead letter = reason %q, table %q, op %q, key %s; want the update of order %s, saying the table lost FULL",
			dl.Reason, dl.Table, dl.Op, dl.Key, order)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("stop the dead_letter run: %v", err)
	}

	// Without the override again: runs on, and old values still map.
	p.env = env
	p.start()
	db.Exec(t, `UPDATE orders SET status = 'C' WHERE order_id = (SELECT min(order_id) FROM orders WHERE status NOT IN ('C', 'S') AND order_id <> $1::bigint)`, order)
	if _, err := loadOrders(ctx, db.DSN, seed+2, 20, 0); err != nil {
		t.Fatal(err)
	}
	awaitConvergedBut(t, p, db, fold, order+" OrderPromised")
	if err := pollEvents(ctx, dead, func(_ *kgo.Record, ev pipeline.Event) error {
		return fmt.Errorf("a dead letter after the override was dropped: %s", ev.Data)
	}); err != nil {
		t.Error(err)
	}
	t.Logf("%d records, %d orders, %d starts; dead letter: %s", fold.records, len(fold.status), p.starts, dl.Reason)
}

// TestIntegrationRunIdentityLostFullResnapshot takes the second way past a
// lost REPLICA IDENTITY FULL as the message words it: drop the slot it names
// and restart. A new snapshot epoch brings every order's state, changes after
// it stream with their old values, and nothing goes to the dead-letter topic.
func TestIntegrationRunIdentityLostFullResnapshot(t *testing.T) {
	ctx := t.Context()
	s := newLostFull(t, "identity_rs")
	// The walsender of the stopped run may hold the slot a moment longer.
	testenv.Await(t, 30*time.Second, "the slot to be released", func() (bool, error) {
		return testenv.QueryValue[bool](t, s.db, `SELECT NOT active FROM pg_replication_slots WHERE slot_name = $1`, s.slot), nil
	})
	s.db.Exec(t, `SELECT pg_drop_replication_slot($1)`, s.slot)
	s.p.start()
	// End markers come once per partition, so count the epochs they end:
	// the first snapshot's markers on the partitions not read yet must not
	// pass for the second snapshot's.
	testenv.Await(t, 60*time.Second, "a second snapshot epoch on shop.order", func() (bool, error) {
		if err := s.p.running(); err != nil {
			return false, err
		}
		return len(s.fold.endedEpochs) >= 2, s.fold.poll(ctx)
	})
	if len(s.fold.epochs) != 2 {
		t.Errorf("%d snapshot epochs; want 2 (the re-snapshot)", len(s.fold.epochs))
	}
	s.db.Exec(t, `UPDATE orders SET status = 'C' WHERE order_id = (SELECT min(order_id) FROM orders WHERE status NOT IN ('C', 'S'))`)
	if _, err := loadOrders(ctx, s.db.DSN, s.seed+1, 20, 0); err != nil {
		t.Fatal(err)
	}
	// The new epoch holds the order's state, not the two transitions made
	// before it: those two audited changes have no event of their own.
	want := orderStatuses(t, s.db)
	testenv.Await(t, 60*time.Second, "shop.order to fold to the database after the re-snapshot", func() (bool, error) {
		if err := s.p.running(); err != nil {
			return false, err
		}
		if err := s.fold.poll(ctx); err != nil {
			return false, err
		}
		missing, _ := missingAudited(t, s.db, s.fold)
		for _, m := range missing {
			if !strings.HasPrefix(m, s.order+" ") {
				return false, fmt.Errorf("audited change without an event: %s", m)
			}
		}
		return equalMaps(s.fold.status, want), nil
	})
	dead := consumer(t, s.broker.Addrs(), "shop.deadletter")
	if err := pollEvents(ctx, dead, func(_ *kgo.Record, ev pipeline.Event) error {
		return fmt.Errorf("a dead letter after the re-snapshot: %s", ev.Data)
	}); err != nil {
		t.Error(err)
	}
}

// awaitRunFailure waits for p to exit, requires exit status 1 and an output
// line containing want, and returns the output of this start.
func awaitRunFailure(t *testing.T, p *runProc, want string) string {
	t.Helper()
	var exit error
	select {
	case exit = <-p.exited:
		p.cmd = nil
	case <-time.After(60 * time.Second):
		t.Fatalf("cdcflow run did not stop within 60s; want it to fail with %q", want)
	}
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	// The log holds every start; the failure is the last "cdcflow run:"
	// line and what follows it (or, failing that, the whole log).
	this := string(out)
	if i := strings.LastIndex(this, "cdcflow run:"); i >= 0 {
		if j := strings.LastIndex(this[:i], "\n"); j >= 0 {
			this = this[j+1:]
		}
	}
	if exit == nil || !strings.Contains(exit.Error(), "exit status 1") {
		t.Fatalf("cdcflow run exited with %v; want exit status 1:\n%s", exit, tailLines(out, 40))
	}
	if !strings.Contains(this, want) {
		t.Fatalf("cdcflow run failed without saying %q:\n%s", want, tailLines(out, 40))
	}
	return this
}

// awaitConvergedBut is awaitConverged for a fold that misses exactly one
// audited change, the dead-lettered one ("order-id EventType").
func awaitConvergedBut(t *testing.T, p *runProc, db *testenv.DB, fold *orderFold, deadLettered string) {
	t.Helper()
	want := orderStatuses(t, db)
	testenv.Await(t, 60*time.Second, "shop.order to fold to the database and hold every audited change but "+deadLettered, func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		if err := fold.poll(t.Context()); err != nil {
			return false, err
		}
		if !equalMaps(fold.status, want) {
			return false, fmt.Errorf("%d orders folded, %d in the database (or statuses differ)", len(fold.status), len(want))
		}
		missing, _ := missingAudited(t, db, fold)
		if len(missing) != 1 || missing[0] != deadLettered {
			return false, fmt.Errorf("audited changes without an event: %v; want only %s", missing, deadLettered)
		}
		return true, nil
	})
}

package main

import (
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationRunCleanRestartRepeatsNothing stops `cdcflow run`
// (at-least-once) cleanly under load and starts it again, three times: the
// restarts resume at the slot's confirmed position, which may lie behind what
// Kafka holds, and must publish nothing twice (no (id, partition) repeated)
// while losing nothing (every audited change has its event).
func TestIntegrationRunCleanRestartRepeatsNothing(t *testing.T) {
	ctx := t.Context()
	db, seed := orderDB(t, testenv.Postgres(t), 200) // taken by the snapshot
	installAudit(t, db)                              // what is streamed
	broker := testenv.Kafka(t)
	_, env := ordersRunEnv(t, db, broker.Addrs(), "clean", "CDCFLOW_KAFKA_TOPICS_PARTITIONS=3")
	p := startRun(t, env...)
	fold := newOrderFold(consumer(t, broker.Addrs(), "shop.order"))
	awaitSnapshot(t, ctx, p, fold)
	for round := range 3 {
		// Load runs while cdcflow stops: the stop leaves acknowledged
		// records that the slot has not been told of yet.
		done := make(chan error, 1)
		go func() {
			_, err := loadOrders(ctx, db.DSN, seed+uint64(round)+1, 300, 400)
			done <- err
		}()
		testenv.Await(t, 30*time.Second, "some of the load published", func() (bool, error) {
			return fold.records > 0, fold.poll(ctx)
		})
		if err := p.stop(); err != nil {
			t.Fatalf("round %d: stop: %v", round, err)
		}
		p.start()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		awaitConverged(t, p, db, fold, 90*time.Second)
	}
	if fold.repeats > 0 {
		t.Errorf("%d records repeated (same id and partition) after clean restarts; want none", fold.repeats)
	}
	if len(fold.epochs) != 1 {
		t.Errorf("%d snapshot epochs; want 1 (a clean restart never snapshots again)", len(fold.epochs))
	}
	t.Logf("%d records, %d orders, %d starts", fold.records, len(fold.status), p.starts)
}

// TestIntegrationRunPostgresRestartNoResnapshot stops `cdcflow run` cleanly,
// then stops PostgreSQL (fast shutdown) or kills it (a crash), starts both
// again and loads more, in both delivery modes. PostgreSQL before 17 does not
// write a logical slot's confirmed position at its shutdown checkpoint unless
// the slot is dirty, and a crash loses it on every version, so the slot can
// go back before the marker of its snapshot epoch: cdcflow must recognise
// that the epoch is complete in Kafka and stream on, with no new snapshot
// epoch, nothing lost and (after clean stops) nothing repeated.
func TestIntegrationRunPostgresRestartNoResnapshot(t *testing.T) {
	for _, mode := range []string{"at_least_once", "exactly_once"} {
		t.Run(mode, func(t *testing.T) {
			ctx := t.Context()
			pg := testenv.NewPostgres(t, nil)
			db, seed := orderDB(t, pg, 200) // taken by the snapshot
			installAudit(t, db)
			broker := testenv.Kafka(t)
			_, env := ordersRunEnv(t, db, broker.Addrs(), "pgrestart",
				"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3", "CDCFLOW_KAFKA_DELIVERY="+mode)
			cl := consumer(t, broker.Addrs(), "shop.order")
			if mode == "exactly_once" {
				cl = committedConsumer(t, broker.Addrs(), "shop.order")
			}
			p := startRun(t, env...)
			fold := newOrderFold(cl)
			awaitSnapshot(t, ctx, p, fold)
			for round, stop := range []string{"fast", "crash"} {
				if _, err := loadOrders(ctx, db.DSN, seed+uint64(round)+1, 150, 0); err != nil {
					t.Fatal(err)
				}
				awaitConverged(t, p, db, fold, 60*time.Second)
				if err := p.stop(); err != nil {
					t.Fatalf("%s: stop cdcflow: %v", stop, err)
				}
				if stop == "fast" {
					if err := pg.Stop(ctx); err != nil {
						t.Fatal(err)
					}
				} else if err := pg.Kill(); err != nil {
					t.Fatal(err)
				}
				if err := pg.Restart(ctx); err != nil {
					t.Fatal(err)
				}
				p.start()
			}
			if _, err := loadOrders(ctx, db.DSN, seed+10, 150, 0); err != nil {
				t.Fatal(err)
			}
			awaitConverged(t, p, db, fold, 60*time.Second)
			if len(fold.epochs) != 1 {
				t.Errorf("%d snapshot epochs after PostgreSQL restarts; want 1", len(fold.epochs))
			}
			if fold.repeats > 0 {
				t.Errorf("%d records repeated (same id and partition) after clean stops; want none", fold.repeats)
			}
			t.Logf("%d records, %d orders, %d starts", fold.records, len(fold.status), p.starts)
		})
	}
}

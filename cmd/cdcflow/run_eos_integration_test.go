package main

import (
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationRunEOSCommitUnknown fails a Kafka transaction's commit
// (EndTxn answered with INVALID_TXN_STATE, the transaction left open at the
// broker) under load in exactly-once mode: `cdcflow run` must stop with a
// message saying the commit outcome is unknown, and a restart must fence the
// open transaction and deliver the rest, each record once for read_committed.
func TestIntegrationRunEOSCommitUnknown(t *testing.T) {
	ctx := t.Context()
	db, seed := orderDB(t, testenv.Postgres(t), 30)
	broker := testenv.NewKafka(t, services.KafkaOptions{SyncWrites: true})
	var failing atomic.Bool
	var failed atomic.Int64
	c := broker.Cluster()
	c.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.EndTxnRequest)
		if !failing.Load() || !req.Commit {
			return nil, nil, false
		}
		failed.Add(1)
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.InvalidTxnState.Code
		return resp, nil, true
	})
	_, env := ordersRunEnv(t, db, broker.Addrs(), "eosunknown", "CDCFLOW_KAFKA_DELIVERY=exactly_once")
	p := startRun(t, env...)
	fold := newOrderFold(committedConsumer(t, broker.Addrs(), "shop.order"))
	awaitSnapshot(t, ctx, p, fold)
	installAudit(t, db)
	loaded := make(chan error, 1)
	go func() {
		_, err := loadOrders(ctx, db.DSN, seed+1, 300, 60)
		loaded <- err
	}()
	// Let some streamed transactions commit, then fail the next commit.
	awaitStreamed(t, p, fold, 20)
	failing.Store(true)
	var exitErr error
	select {
	case exitErr = <-p.exited:
		p.cmd = nil
	case <-time.After(30 * time.Second):
		t.Fatalf("cdcflow run still runs 30s after its commits began to fail (%d failed)", failed.Load())
	}
	failing.Store(false)
	if exitErr == nil {
		t.Errorf("cdcflow run exited with status 0 after a failed commit; want a failure")
	}
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	last := tailLines(out, 1)
	for _, want := range []string{"exactly-once", "commit outcome unknown", "next start reads the position Kafka committed"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line of the output does not say %q:\n%s", want, last)
		}
	}

	p.start()
	if err := <-loaded; err != nil {
		t.Fatalf("load: %v", err)
	}
	awaitConverged(t, p, db, fold, 90*time.Second)
	if fold.repeats > 0 || fold.duplicates > 0 {
		t.Errorf("%d records repeated (%d events with an id seen before) for read_committed; want none", fold.repeats, fold.duplicates)
	}
	_, audited := missingAudited(t, db, fold)
	t.Logf("%d commits failed; stopped with: %s; after the restart: %d orders, %d audited changes, %d records, %d repeated, %d skipped by the restart",
		failed.Load(), last, len(fold.status), audited, fold.records, fold.repeats, p.skippedRecords())
}

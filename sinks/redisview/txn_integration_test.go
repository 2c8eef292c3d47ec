package redisview

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationStopAtEndTransactional replays a topic written by a
// transactional producer (kfake): every transaction ends with a commit or
// abort marker that takes an offset but is never applied, so a partition's
// end (its last stable offset) is a marker. The replay must still finish,
// store the end offset, and contain the committed events but not the aborted
// ones.
func TestIntegrationStopAtEndTransactional(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	k := testenv.NewKafka(t, services.KafkaOptions{Partitions: testPartitions})
	prod := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("views-txn-test"))
	// Nine transactions of twelve new orders each; every third is aborted.
	// A committed transaction also accepts the orders of the committed one
	// before it.
	var committed, aborted []string
	var prevCommitted []string
	lsn := uint64(1)
	for i := range 9 {
		commit := i%3 != 2
		var recs []partRecord
		var ids []string
		for j := range 12 {
			id := fmt.Sprintf("t%do%d", i, j)
			ids = append(ids, id)
			recs = append(recs, partRecord{partition: partitionOf(id), ev: orderEvent(id, "OrderRequested", lsn,
				map[string]any{"customer_id": "c1", "total": "1.25", "ordered_at": "2026-11-23T10:00:00Z"})})
			lsn++
		}
		if commit {
			for _, id := range prevCommitted {
				recs = append(recs, partRecord{partition: partitionOf(id), ev: orderEvent(id, "OrderAccepted", lsn, nil)})
				lsn++
			}
		}
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(t, prod, "shop.order", recs)
		end := kgo.TryAbort
		if commit {
			end = kgo.TryCommit
			committed = append(committed, ids...)
			prevCommitted = ids
		} else {
			aborted = append(aborted, ids...)
		}
		if err := prod.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}

	defs := testDefinitions(t)
	v, err := New(Config{Prefix: srv.Prefix(t)}, defs, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last Progress
	cfg := ConsumerConfig{Brokers: k.Addrs(), Group: "views-txn", Topics: []string{"shop.order"}, StopAtEnd: true,
		PointerInterval: 200 * time.Millisecond, Logger: testLogger(t), Progress: func(p Progress) { last = p }}
	if err := runConsumer(t, rctx, cfg, v); err != nil {
		t.Fatalf("StopAtEnd over transactional records: %v (progress %+v)", err, last)
	}
	if last.Done != last.Total {
		t.Errorf("progress at the end = %+v; want done == total", last)
	}
	// Every partition's stored offset is its end, which is a marker.
	c, err := NewConsumer(cfg, v)
	if err != nil {
		t.Fatal(err)
	}
	cl := k.Client(t)
	ends, err := listEnds(ctx, cl, cfg.Topics)
	if err != nil {
		t.Fatal(err)
	}
	for tpk, end := range ends {
		stored, err := c.views.Offsets(ctx, tpk.topic, []int32{tpk.partition})
		if err != nil {
			t.Fatal(err)
		}
		if end > 0 && stored[tpk.partition] != end {
			t.Errorf("%s[%d]: stored offset %d, end %d", tpk.topic, tpk.partition, stored[tpk.partition], end)
		}
	}
	rd, err := NewReader(defs, rdb, v.cfg.Prefix, testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	snap := rd.At(1)
	for i, id := range committed {
		want := "accepted"
		if i >= len(committed)-12 {
			want = "requested" // the last committed transaction's orders
		}
		e, err := snap.Entity(ctx, "order", id)
		if err != nil || e["status"] != want {
			t.Errorf("order %s = %v, %v; want status %s", id, e, err, want)
		}
	}
	for _, id := range aborted {
		if e, err := snap.Entity(ctx, "order", id); err != nil || e != nil {
			t.Errorf("order %s of an aborted transaction = %v, %v; want none", id, e, err)
		}
	}
}

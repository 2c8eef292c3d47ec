package kafka

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdcflow/cdcflow/pipeline"
)

// newClusterWithOrders starts a broker with the topic "orders" of three
// partitions.
func newClusterWithOrders(t *testing.T) *kfake.Cluster {
	t.Helper()
	c := newCluster(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(t.Context(), 3, -1, nil, "orders"); err != nil {
		t.Fatalf("create topic orders: %v", err)
	}
	return c
}

func newTx(t *testing.T, c *kfake.Cluster, maxBytes int) *TxPublisher {
	t.Helper()
	tp, err := NewTx(TxConfig{Config: Config{Brokers: c.ListenAddrs()}, Name: "slot1", MaxBytes: maxBytes}, nil, nil)
	if err != nil {
		t.Fatalf("NewTx: %v", err)
	}
	t.Cleanup(tp.Close)
	return tp
}

// txRecords returns n records for "orders" with values from..from+n-1; the
// record at each index in cuts carries the cut "pos-<value>".
func txRecords(from, n int, cuts ...int) []TxRecord {
	recs := make([]TxRecord, n)
	for i := range recs {
		v := strconv.Itoa(from + i)
		recs[i] = TxRecord{Record: pipeline.Record{Topic: "orders", Key: []byte("k" + strconv.Itoa(i%3)), Value: []byte(v)}}
	}
	for _, i := range cuts {
		recs[i].Cut = []byte("pos-" + strconv.Itoa(from+i))
	}
	return recs
}

// committedValues reads orders with read_committed and returns the values.
func committedValues(t *testing.T, c *kfake.Cluster, want int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, r := range consume(t, c, "orders", want, kgo.FetchIsolationLevel(kgo.ReadCommitted())) {
		got[string(r.Value)]++
	}
	return got
}

func TestIntegrationTxCrashAndRecover(t *testing.T) {
	c := newClusterWithOrders(t)
	ctx := t.Context()

	a := newTx(t, c, 0)
	pos, err := a.Start(ctx)
	if err != nil || pos != nil {
		t.Fatalf("first Start = %q, %v; want no position", pos, err)
	}
	if pos, err = a.Publish(ctx, txRecords(0, 10, 4, 9), time.Time{}); err != nil || string(pos) != "pos-9" {
		t.Fatalf("Publish = %q, %v; want pos-9", pos, err)
	}

	// A crash mid-transaction: records produced and flushed in an open
	// transaction, and the process gone without committing or closing.
	if err := a.cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 15; i++ {
		if err := a.cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Key: []byte("k"), Value: []byte(strconv.Itoa(i)), Partition: -1}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	b := newTx(t, c, 0)
	pos, err = b.Start(ctx)
	if err != nil {
		t.Fatalf("Start after the crash: %v", err)
	}
	if string(pos) != "pos-9" {
		t.Fatalf("recovered position = %q; want pos-9", pos)
	}
	// The old incarnation is fenced: it can no longer commit.
	if err := a.cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Error("the fenced producer committed its transaction")
	}
	if pos, err = b.Publish(ctx, txRecords(10, 5, 4), time.Time{}); err != nil || string(pos) != "pos-14" {
		t.Fatalf("Publish after recovery = %q, %v; want pos-14", pos, err)
	}
	got := committedValues(t, c, 15)
	for i := range 15 {
		if n := got[strconv.Itoa(i)]; n != 1 {
			t.Errorf("value %d seen %d times by read_committed; want once", i, n)
		}
	}
	if len(got) != 15 {
		t.Errorf("read_committed saw %d distinct values; want 15: %v", len(got), got)
	}
}

func TestIntegrationTxSplit(t *testing.T) {
	c := newClusterWithOrders(t)
	ctx := t.Context()
	tp := newTx(t, c, 10) // each record is ~3 bytes: a transaction ends at the first cut after 10 bytes

	var txs atomic.Int32
	c.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if kreq.(*kmsg.EndTxnRequest).Commit {
			txs.Add(1)
		}
		return nil, nil, false
	})
	if _, err := tp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Cuts after every second record, as at the change boundaries of one
	// large source transaction.
	recs := txRecords(100, 12, 1, 3, 5, 7, 9, 11)
	pos, err := tp.Publish(ctx, recs, time.Time{})
	if err != nil || string(pos) != "pos-111" {
		t.Fatalf("Publish = %q, %v; want pos-111", pos, err)
	}
	if txs.Load() < 2 {
		t.Errorf("committed %d Kafka transactions; want the batch split into several", txs.Load())
	}
	var positions []string
	err = readToEnd(ctx, tp.adm, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, DefaultPositionTopic, func(r *kgo.Record) error {
		positions = append(positions, string(r.Value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(positions) != int(txs.Load()) || positions[len(positions)-1] != "pos-111" {
		t.Errorf("positions stored = %v; want one per transaction (%d), ending at pos-111", positions, txs.Load())
	}
}

func TestIntegrationTxProduceErrorAborts(t *testing.T) {
	c := newClusterWithOrders(t)
	ctx := t.Context()
	tp := newTx(t, c, 0)
	if _, err := tp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Publish(ctx, txRecords(0, 3, 2), time.Time{}); err != nil {
		t.Fatal(err)
	}
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return produceErrs(kreq, kerr.TopicAuthorizationFailed.Code), nil, true
	})
	_, err := tp.Publish(ctx, txRecords(3, 3, 2), time.Time{})
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("Publish with authorization failing = %v; want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if _, ok := errors.AsType[*CommitUnknownError](err); ok {
		t.Errorf("a produce failure was reported as an unknown commit: %v", err)
	}
}

func TestTxPublishValidation(t *testing.T) {
	tp := &TxPublisher{max: 10}
	tests := []struct {
		name string
		recs []TxRecord
	}{
		{name: "empty"},
		{name: "no final cut", recs: txRecords(0, 2, 0)},
	}
	for _, tt := range tests {
		if _, err := tp.Publish(t.Context(), tt.recs, time.Time{}); err == nil {
			t.Errorf("%s: Publish succeeded; want error", tt.name)
		}
	}
	if _, err := NewTx(TxConfig{Config: Config{Brokers: []string{"a:1"}}}, nil, nil); err == nil {
		t.Error("NewTx without a name succeeded; want error")
	}
}

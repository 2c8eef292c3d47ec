package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

// TestIntegrationEndLSNHeader: of the records that carry their
// transaction's end LSN, the last one of the batch in each partition (and
// only it) has the cdcflow-end-lsn header with that LSN; keyed records land
// where Kafka's partitioner puts them; a control record in a transaction is
// marked in the partitions where it is the last.
func TestIntegrationEndLSNHeader(t *testing.T) {
	const parts = 4
	c := newCluster(t, 1)
	p, _ := newPublisher(t, c, Config{Topics: TopicConfig{Partitions: parts}})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	var recs []pipeline.Record
	add := func(key string, end capture.LSN) {
		recs = append(recs, pipeline.Record{Topic: "orders", Key: []byte(key), Value: []byte(fmt.Sprint(len(recs))), EndLSN: end})
	}
	for i := range 12 {
		add(fmt.Sprintf("o%d", i), capture.LSN(0x100+0x100*(i/4))) // three transactions of four
	}
	// A truncate in a transaction, to partitions 1 and 3 only, then the
	// start of a transaction whose commit is not in the batch.
	recs = append(recs, pipeline.Record{Topic: "orders", Key: []byte("t"), Value: []byte("12"), AllPartitions: true, Partitions: []int32{1, 3}, EndLSN: 0x480})
	add("o99", 0)
	a := newAcks(1)
	p.Publish(ctx, Batch{Records: recs}, a.onAck(0))
	a.wait(t)
	if a.errs[0] != nil {
		t.Fatal(a.errs[0])
	}
	// Expected: per partition, the last record with an end LSN.
	hash := kgo.StickyKeyPartitioner(nil).ForTopic("")
	want := map[int32]string{} // partition -> value of the marked record
	wantEnd := map[int32]capture.LSN{}
	wantPart := map[string]int32{}
	for _, r := range recs {
		if r.AllPartitions {
			for _, q := range r.Partitions {
				want[q], wantEnd[q] = string(r.Value), r.EndLSN
			}
			continue
		}
		q := int32(hash.Partition(&kgo.Record{Key: r.Key}, parts))
		wantPart[string(r.Key)] = q
		if r.EndLSN != 0 {
			want[q], wantEnd[q] = string(r.Value), r.EndLSN
		}
	}
	got := consume(t, c, "orders", len(recs)-1+2)
	marked := map[int32]string{}
	for _, r := range got {
		if q, ok := wantPart[string(r.Key)]; ok && q != r.Partition {
			t.Errorf("record %s in partition %d; want %d (murmur2)", r.Key, r.Partition, q)
		}
		for _, h := range r.Headers {
			if h.Key != pipeline.HeaderEndLSN {
				continue
			}
			if _, dup := marked[r.Partition]; dup {
				t.Errorf("partition %d: a second marked record %s", r.Partition, r.Value)
			}
			marked[r.Partition] = string(r.Value)
			if w := string(pipeline.AppendEndLSN(nil, wantEnd[r.Partition])); string(h.Value) != w {
				t.Errorf("partition %d: record %s marked %s; want %s", r.Partition, r.Value, h.Value, w)
			}
		}
	}
	if fmt.Sprint(marked) != fmt.Sprint(want) {
		t.Errorf("marked records by partition = %v; want %v", marked, want)
	}
}

// TestIntegrationTxEndLSNHeader: the exactly-once publisher marks the last
// record carrying an end LSN in each partition of one Publish call, even
// when the call is split into several Kafka transactions.
func TestIntegrationTxEndLSNHeader(t *testing.T) {
	c := newClusterWithOrders(t)
	ctx := t.Context()
	tp := newTx(t, c, 1) // every cut ends a Kafka transaction
	if _, err := tp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	recs := txRecords(0, 8, 2, 5, 7)
	for i := range recs {
		switch {
		case i < 3:
			recs[i].Record.EndLSN = 0x100
		case i < 6:
			recs[i].Record.EndLSN = 0x200
		} // 6 and 7: a transaction whose commit is not in the call
	}
	if _, err := tp.Publish(ctx, recs, time.Time{}); err != nil {
		t.Fatal(err)
	}
	hash := kgo.StickyKeyPartitioner(nil).ForTopic("")
	want := map[int32]string{}
	for _, r := range recs {
		if r.Record.EndLSN != 0 {
			want[int32(hash.Partition(&kgo.Record{Key: r.Record.Key}, 3))] = string(r.Record.Value)
		}
	}
	marked := map[int32]string{}
	for _, r := range consume(t, c, "orders", len(recs), kgo.FetchIsolationLevel(kgo.ReadCommitted())) {
		for _, h := range r.Headers {
			if h.Key == pipeline.HeaderEndLSN {
				if string(h.Value) != "0000000000000200" {
					t.Errorf("record %s marked %s; want 0000000000000200", r.Value, h.Value)
				}
				marked[r.Partition] = string(r.Value)
			}
		}
	}
	if fmt.Sprint(marked) != fmt.Sprint(want) {
		t.Errorf("marked records by partition = %v; want %v", marked, want)
	}
}

package testenv

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdcflow/cdcflow/internal/services"
)

// produceN writes n records to topic and waits for their acknowledgements.
func produceN(t *testing.T, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// consumeAll reads topic from the start with a new client until it holds
// n records, checking each value.
func consumeAll(t *testing.T, addrs []string, topic string, n int) {
	t.Helper()
	cl := newClient(t, addrs, []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())})
	var got []string
	Await(t, 20*time.Second, fmt.Sprintf("%d records in %s", n, topic), func() (bool, error) {
		ctx, cancel := contextTimeout(t, 500*time.Millisecond)
		defer cancel()
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		return len(got) >= n, nil
	})
	if len(got) != n {
		t.Fatalf("consumed %d records; want %d", len(got), n)
	}
	for i, v := range got {
		if want := fmt.Sprintf("v%d", i); v != want {
			t.Errorf("record %d = %q; want %q", i, v, want)
		}
	}
}

func TestIntegrationKafkaRestart(t *testing.T) {
	k := Kafka(t)
	cl := k.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()))
	produceN(t, cl, "orders", 0, 50)
	if err := k.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	produceN(t, cl, "orders", 50, 50) // the same client reconnects
	consumeAll(t, k.Addrs(), "orders", 100)
}

func TestIntegrationKafkaControlKey(t *testing.T) {
	k := Kafka(t)
	cl := k.Client(t, kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
	produceN(t, cl, "warmup", 0, 1)
	k.Cluster().ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = 87 // INVALID_RECORD: not retryable
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "warmup", Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Fatal("produce under an injected INVALID_RECORD succeeded; want an error")
	}
}

func TestIntegrationNewKafkaPartitions(t *testing.T) {
	k := NewKafka(t, services.KafkaOptions{Partitions: 4})
	cl := k.Client(t)
	produceN(t, cl, "spread", 0, 1)
	parts, err := kadm.NewClient(cl).ListTopics(t.Context(), "spread")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(parts["spread"].Partitions); n != 4 {
		t.Errorf("auto-created topic has %d partitions; want 4", n)
	}
}

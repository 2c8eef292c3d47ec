package cepkafka

import (
	"context"
	"flag"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/pipeline"
)

// benchOrders is the number of orders of the benchmarks' input topic (about
// 1.5 events each); a quick check runs with -cepkafka.orders=2000.
var benchOrders = flag.Int("cepkafka.orders", 100_000, "orders on the input topic of BenchmarkRunner and BenchmarkRawConsume")

// benchTopic starts a kfake broker and writes the orders' events (testInputs)
// to a 3-partition topic; it returns the brokers and the record count.
func benchTopic(b *testing.B, topic string) ([]string, int) {
	b.Helper()
	// In memory: the broker's persistence is not what is measured.
	kafka, err := services.StartKafka(b.Context(), services.KafkaOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kafka.Close)
	brokers := kafka.Addrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(b.Context(), 3, -1, nil, topic); err != nil {
		b.Fatal(err)
	}
	inputs := testInputs(topic, *benchOrders)
	for _, in := range inputs {
		rec, err := pipeline.EncodeEvent(in.Event, topic, pipeline.Structured)
		if err != nil {
			b.Fatal(err)
		}
		kr := &kgo.Record{Topic: topic, Partition: in.Partition.Partition, Key: rec.Key, Value: rec.Value}
		for _, h := range rec.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		cl.Produce(b.Context(), kr, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(b.Context()); err != nil {
		b.Fatal(err)
	}
	return brokers, len(inputs)
}

// BenchmarkRunner measures input events/s through the whole runtime
// (consume, decode, the reference-like test rules, derived events and state
// in transactions every second) from the start of a topic to its end. Run it
// with -benchtime 1x; compare with BenchmarkRawConsume on the same topic.
func BenchmarkRunner(b *testing.B) {
	const topic = "bench.order"
	brokers, n := benchTopic(b, topic)
	rules, err := cep.ParseRules("test.yaml", []byte(testRules))
	if err != nil {
		b.Fatal(err)
	}
	run := 0
	for b.Loop() {
		run++
		m := NewMetrics(prometheus.NewRegistry())
		r, err := New(Config{Brokers: brokers, Name: "bench" + strconv.Itoa(run), Inputs: []string{topic}, Topic: "bench.derived" + strconv.Itoa(run),
			Source: "cdcflow://cep/bench", Metrics: m}, rules)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		for testutil.ToFloat64(m.inputs) < float64(n) {
			select {
			case err := <-done:
				b.Fatalf("Run: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawConsume measures the raw consume rate of the same topic:
// read_committed, every partition, each record decoded
// (pipeline.DecodeRecord), nothing else. Run it with -benchtime 1x.
func BenchmarkRawConsume(b *testing.B) {
	const topic = "bench.order"
	brokers, n := benchTopic(b, topic)
	for b.Loop() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}}))
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for got < n {
			fs := cl.PollRecords(b.Context(), DefaultMaxPollRecords)
			if err := firstError(fs); err != nil {
				b.Fatal(err)
			}
			fs.EachRecord(func(kr *kgo.Record) {
				if _, err := decode(kr, nil); err != nil {
					b.Fatal(err)
				}
				got++
			})
		}
		cl.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

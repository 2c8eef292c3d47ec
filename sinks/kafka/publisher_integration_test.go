package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// newCluster starts the harness's kfake broker (on disk, SyncWrites) for
// this test; topics created implicitly get partitions partitions. It
// returns the cluster for addresses and fault injection.
func newCluster(t *testing.T, partitions int) *kfake.Cluster {
	t.Helper()
	return testenv.NewKafka(t, services.KafkaOptions{SyncWrites: true, Partitions: partitions}).Cluster()
}

func newPublisher(t *testing.T, c *kfake.Cluster, cfg Config) (*Publisher, *prometheus.Registry) {
	t.Helper()
	cfg.Brokers = c.ListenAddrs()
	reg := prometheus.NewRegistry()
	p, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p, reg
}

// acks collects the acknowledgements of published batches.
type acks struct {
	mu   sync.Mutex
	ids  []int
	errs []error
	n    atomic.Int64
	all  chan struct{}
	want int64
}

func newAcks(want int) *acks { return &acks{all: make(chan struct{}), want: int64(want)} }

func (a *acks) onAck(id int) func(error) {
	return func(err error) {
		a.mu.Lock()
		a.ids = append(a.ids, id)
		a.errs = append(a.errs, err)
		a.mu.Unlock()
		if a.n.Add(1) == a.want {
			close(a.all)
		}
	}
}

func (a *acks) wait(t *testing.T) {
	t.Helper()
	select {
	case <-a.all:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d batches acknowledged after 30s", a.n.Load(), a.want)
	}
}

// consume reads want records of topic (all partitions, from the start).
func consume(t *testing.T, c *kfake.Cluster, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %q before the deadline", len(got), want, topic)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %q: %v", topic, err) })
		got = append(got, fs.Records()...)
	}
	return got
}

func TestIntegrationPublishOrder(t *testing.T) {
	c := newCluster(t, 1)
	p, reg := newPublisher(t, c, Config{Linger: time.Millisecond})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	const batches, perBatch, keys = 300, 40, 17
	a := newAcks(batches)
	seq := 0
	for b := range batches {
		recs := make([]pipeline.Record, perBatch)
		for i := range recs {
			recs[i] = pipeline.Record{
				Topic: "orders",
				Key:   []byte("order-" + strconv.Itoa(seq%keys)),
				Value: []byte(strconv.Itoa(seq)),
			}
			seq++
		}
		p.Publish(ctx, Batch{Records: recs, CommitTime: time.Now()}, a.onAck(b))
	}
	a.wait(t)
	for i, id := range a.ids {
		if id != i || a.errs[i] != nil {
			t.Fatalf("ack #%d = batch %d, err %v; want batch %d, nil", i, id, a.errs[i], i)
		}
	}
	got := consume(t, c, "orders", seq)
	if len(got) != seq {
		t.Fatalf("read %d records; want %d (duplicates?)", len(got), seq)
	}
	last := map[string]int{}
	partOf := map[string]int32{}
	for _, r := range got {
		k := string(r.Key)
		v, _ := strconv.Atoi(string(r.Value))
		if prev, ok := last[k]; ok && v <= prev {
			t.Fatalf("key %s: value %d after %d; want increasing (per-key order)", k, v, prev)
		}
		if pp, ok := partOf[k]; ok && pp != r.Partition {
			t.Fatalf("key %s in partitions %d and %d", k, pp, r.Partition)
		}
		last[k], partOf[k] = v, r.Partition
	}
	if n := testutil.CollectAndCount(reg, "cdcflow_kafka_commit_to_ack_seconds"); n != 1 {
		t.Errorf("commit-to-ack histogram series = %d; want 1", n)
	}
	m := p.m
	if got := testutil.ToFloat64(m.records.WithLabelValues("orders")); got != float64(seq) {
		t.Errorf("records metric = %v; want %d", got, seq)
	}
	if got := testutil.ToFloat64(m.inflightRec); got != 0 {
		t.Errorf("in-flight records = %v after all acks; want 0", got)
	}
}

func TestIntegrationPartitionsMatchKafka(t *testing.T) {
	// murmur2 partitioning must agree with Kafka's default partitioner:
	// these placements were computed by the Java client's
	// Utils.toPositive(Utils.murmur2(key)) % 6 (the values franz-go's own
	// tests use for the same keys).
	c := newCluster(t, 1)
	p, _ := newPublisher(t, c, Config{})
	if err := p.EnsureTopics(t.Context(), []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	tp := partitioner{}.ForTopic("orders")
	for _, k := range []string{"a", "order-1", "order-2", "x"} {
		r := &kgo.Record{Key: []byte(k), Partition: -1}
		want := kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: []byte(k)}, 6)
		if got := tp.Partition(r, 6); got != want {
			t.Errorf("Partition(%q) = %d; want %d (murmur2)", k, got, want)
		}
	}
	if got := tp.Partition(&kgo.Record{Partition: 4}, 6); got != 4 {
		t.Errorf("Partition(preset 4) = %d; want 4", got)
	}
}

func TestIntegrationControlAndDeadLetter(t *testing.T) {
	c := newCluster(t, 1)
	p, _ := newPublisher(t, c, Config{Topics: TopicConfig{Partitions: 4}})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	a := newAcks(1)
	p.Publish(ctx, Batch{Records: []pipeline.Record{
		{Topic: "orders", Key: []byte("snapshot"), Value: []byte("begin"), AllPartitions: true},
		{Topic: "orders", Key: []byte("o1"), Value: []byte("bad"), DeadLetter: true,
			Headers: []pipeline.Header{{Key: "cdcflow-reason", Value: []byte("no rule")}}},
	}}, a.onAck(0))
	a.wait(t)
	if a.errs[0] != nil {
		t.Fatalf("ack = %v", a.errs[0])
	}
	got := consume(t, c, "orders", 4)
	seen := map[int32]bool{}
	for _, r := range got {
		if string(r.Value) != "begin" {
			t.Errorf("orders holds %q; want only the control record", r.Value)
		}
		seen[r.Partition] = true
	}
	if len(seen) != 4 {
		t.Errorf("control record in partitions %v; want all 4", seen)
	}
	dl := consume(t, c, DefaultDeadLetterTopic, 1)
	hs := map[string]string{}
	for _, h := range dl[0].Headers {
		hs[h.Key] = string(h.Value)
	}
	if string(dl[0].Value) != "bad" || hs["cdcflow-reason"] != "no rule" || hs["cdcflow-topic"] != "orders" {
		t.Errorf("dead letter = %q with headers %v; want bad with reason and original topic", dl[0].Value, hs)
	}
	if got := testutil.ToFloat64(p.m.deadLetters.WithLabelValues("unmappable")); got != 1 {
		t.Errorf("dead letters metric = %v; want 1", got)
	}
}

func TestIntegrationEnsureTopicsPartitionsChanged(t *testing.T) {
	c := newCluster(t, 1)
	p, _ := newPublisher(t, c, Config{Topics: TopicConfig{Partitions: 3}})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders", "payments"}); err != nil {
		t.Fatal(err)
	}
	// A second run (a restart) with the same topics is fine.
	p2, _ := newPublisher(t, c, Config{Topics: TopicConfig{Partitions: 3}})
	if err := p2.EnsureTopics(ctx, []string{"orders", "payments"}); err != nil {
		t.Fatalf("EnsureTopics on restart: %v", err)
	}
	adm := kadm.NewClient(p.cl)
	if _, err := adm.CreatePartitions(ctx, 2, "payments"); err != nil {
		t.Fatal(err)
	}
	p3, _ := newPublisher(t, c, Config{Topics: TopicConfig{Partitions: 3}})
	err := p3.EnsureTopics(ctx, []string{"orders", "payments"})
	pc, ok := errors.AsType[*PartitionsChangedError](err)
	if !ok || pc.Topic != "payments" || pc.Recorded != 3 || pc.Current != 5 {
		t.Fatalf("EnsureTopics after adding partitions = %v; want PartitionsChangedError for payments 3 -> 5", err)
	}
	// The topic config says retention forever.
	rc, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rc.On("orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cf := range r.Configs {
		if cf.Key == "retention.ms" && (cf.Value == nil || *cf.Value != "-1") {
			t.Errorf("orders retention.ms = %v; want -1", cf.MaybeValue())
		}
	}
}

// produceErrs answers a produce request with code for every partition in it.
func produceErrs(kreq kmsg.Request, code int16) kmsg.Response {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func TestIntegrationRetryableFaults(t *testing.T) {
	c := newCluster(t, 1)
	p, _ := newPublisher(t, c, Config{})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	// Each failure makes the client refresh metadata (at most every 5 s,
	// kgo's MetadataMinAge), so two failures keep the test short.
	var failed atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if failed.Add(1) > 2 {
			c.DropControl()
			return nil, nil, false
		}
		return produceErrs(kreq, kerr.NotEnoughReplicas.Code), nil, true
	})
	const batches, perBatch = 20, 10
	a := newAcks(batches)
	for b := range batches {
		recs := make([]pipeline.Record, perBatch)
		for i := range recs {
			recs[i] = pipeline.Record{Topic: "orders", Key: []byte("k"), Value: []byte(strconv.Itoa(b*perBatch + i))}
		}
		p.Publish(ctx, Batch{Records: recs}, a.onAck(b))
	}
	a.wait(t)
	for i := range a.ids {
		if a.ids[i] != i || a.errs[i] != nil {
			t.Fatalf("ack #%d = batch %d, err %v; want in order, nil", i, a.ids[i], a.errs[i])
		}
	}
	if failed.Load() < 2 {
		t.Fatalf("the broker failed %d produce requests; the fault was not injected", failed.Load())
	}
	got := consume(t, c, "orders", batches*perBatch)
	if len(got) != batches*perBatch {
		t.Fatalf("read %d records; want %d", len(got), batches*perBatch)
	}
	for i, r := range got {
		if string(r.Value) != strconv.Itoa(i) {
			t.Fatalf("record %d = %s; want %d (lost, duplicated or reordered)", i, r.Value, i)
		}
	}
}

func TestIntegrationFatalErrors(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		inject    int16 // produce error code, or 0
		value     []byte
		check     func(error) bool
		wantRetry bool
	}{
		{
			name:   "topic authorization failed",
			inject: kerr.TopicAuthorizationFailed.Code,
			value:  []byte("v"),
			check:  func(err error) bool { return errors.Is(err, kerr.TopicAuthorizationFailed) },
		},
		{
			name:  "record too large",
			cfg:   Config{BatchMaxBytes: 1000},
			value: make([]byte, 5000),
			check: func(err error) bool {
				e, ok := errors.AsType[*RecordTooLargeError](err)
				return ok && e.Topic == "orders" && e.Bytes >= 5000
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 1)
			p, _ := newPublisher(t, c, tt.cfg)
			ctx := t.Context()
			if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
				t.Fatal(err)
			}
			if tt.inject != 0 {
				c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
					c.KeepControl()
					return produceErrs(kreq, tt.inject), nil, true
				})
			}
			a := newAcks(2)
			p.Publish(ctx, Batch{Records: []pipeline.Record{{Topic: "orders", Key: []byte("k"), Value: tt.value}}}, a.onAck(0))
			p.Publish(ctx, Batch{}, a.onAck(1))
			a.wait(t)
			err := a.errs[0]
			if err == nil || !tt.check(err) {
				t.Fatalf("ack = %v; want the %s error", err, tt.name)
			}
			if IsRetryable(err) != tt.wantRetry {
				t.Errorf("IsRetryable(%v) = %v; want %v", err, !tt.wantRetry, tt.wantRetry)
			}
			if a.ids[0] != 0 || a.ids[1] != 1 {
				t.Errorf("acks in order %v; want [0 1]", a.ids)
			}
		})
	}
}

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{kerr.NotLeaderForPartition, true},
		{fmt.Errorf("produce: %w", kerr.RequestTimedOut), true},
		{kerr.TopicAuthorizationFailed, false},
		{kerr.SaslAuthenticationFailed, false},
		{kerr.UnknownTopicOrPartition, true}, // retriable at the broker; kgo gives up after UnknownTopicRetries
		{&RecordTooLargeError{Err: kerr.MessageTooLarge}, false},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{kgo.ErrRecordTimeout, true},
		{ErrClosed, false},
	}
	for _, tt := range tests {
		if got := IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}

func TestIntegrationPublishAfterClose(t *testing.T) {
	c := newCluster(t, 1)
	p, _ := newPublisher(t, c, Config{})
	p.Close()
	a := newAcks(1)
	p.Publish(t.Context(), Batch{Records: []pipeline.Record{{Topic: "orders", Key: []byte("k")}}}, a.onAck(0))
	a.wait(t)
	if !errors.Is(a.errs[0], ErrClosed) {
		t.Errorf("ack after Close = %v; want ErrClosed", a.errs[0])
	}
}

// BenchmarkPublish publishes batches of 100 CloudEvents-like JSON records to
// an in-process kfake broker with each codec, reporting throughput and the
// compression ratio the client achieved (compressed / uncompressed bytes).
func BenchmarkPublish(b *testing.B) {
	for _, codec := range []string{"zstd", "lz4", "snappy", "none"} {
		b.Run(codec, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			reg := prometheus.NewRegistry()
			p, err := New(Config{Brokers: c.ListenAddrs(), Compression: codec}, nil, reg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ctx := b.Context()
			if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
				b.Fatal(err)
			}
			// 64 distinct batches, more than one 1 MiB Kafka batch holds, so
			// that the codec never sees the same record twice in a batch.
			batches := make([][]pipeline.Record, 64)
			size := 0
			for j := range batches {
				recs := make([]pipeline.Record, 100)
				for i := range recs {
					n := j*100 + i
					v := fmt.Appendf(nil, `{"specversion":"1.0","type":"OrderRequested","source":"postgres://7301234567890123456/orders?tl=1","id":"%016x","time":"2026-11-23T10:15:%02d.%06dZ","sequence":"%016X-%08X-0000","pglsn":"16/%X","dataschema":"urn:cdcflow:order/OrderRequested/2","data":{"order_id":%d,"customer_id":"c-%d","amount":"%d.%02d","currency":"EUR","lines":%d,"status":"requested"}}`,
						uint64(n+1)*0x9e3779b97f4a7c15, n%60, (n*7919)%1000000, 0x16B374D848+n*120, n, 0xB374D848+n*120, 100000+n, (n*31)%9973, 10+(n*13)%5000, n%100, 1+n%5)
					recs[i] = pipeline.Record{Topic: "orders", Key: []byte("order-" + strconv.Itoa(100000+n)), Value: v}
					size += len(v)
				}
				batches[j] = recs
			}
			size /= len(batches)
			next := 0
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				wg.Add(1)
				recs := batches[next%len(batches)]
				next++
				p.Publish(ctx, Batch{Records: recs}, func(err error) {
					if err != nil {
						b.Error(err)
					}
					wg.Done()
				})
			}
			wg.Wait()
			b.ReportMetric(sumCounter(b, reg, "cdcflow_kafka_client_produce_compressed_bytes_total")/
				sumCounter(b, reg, "cdcflow_kafka_client_produce_uncompressed_bytes_total"), "ratio")
		})
	}
}

func sumCounter(b *testing.B, g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestIntegrationAckOrderWithStalledPartition stalls the broker that leads
// batch 0's partition while batch 1, on another broker, is stored: batch 1's
// acknowledgement must wait for batch 0's.
func TestIntegrationAckOrderWithStalledPartition(t *testing.T) {
	// Two brokers, so that two partitions have different leaders; the
	// harness runs one, hence kfake directly.
	c, err := kfake.NewCluster(kfake.NumBrokers(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p, _ := newPublisher(t, c, Config{Topics: TopicConfig{Partitions: 4}})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	// Pick two keys in different partitions, and give those partitions
	// different leaders (kfake assigns leaders at random).
	tp := partitioner{}.ForTopic("orders")
	partOf := func(key string) int32 {
		return int32(tp.Partition(&kgo.Record{Key: []byte(key), Partition: -1}, 4))
	}
	k0, k1 := "order-0", ""
	for i := 1; i < 100 && k1 == ""; i++ {
		if k := "order-" + strconv.Itoa(i); partOf(k) != partOf(k0) {
			k1 = k
		}
	}
	if k1 == "" {
		t.Fatal("no key found in another partition")
	}
	if err := c.MoveTopicPartition("orders", partOf(k0), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.MoveTopicPartition("orders", partOf(k1), 1); err != nil {
		t.Fatal(err)
	}
	leaderOf := func(key string) int32 { return c.LeaderFor("orders", partOf(key)) }
	if leaderOf(k0) == leaderOf(k1) {
		t.Fatalf("partitions %d and %d share leader %d", partOf(k0), partOf(k1), leaderOf(k0))
	}
	stalled := leaderOf(k0)
	release := make(chan struct{})
	var slept atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if c.CurrentNode() == stalled && slept.CompareAndSwap(false, true) {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	a := newAcks(2)
	p.Publish(ctx, Batch{Records: []pipeline.Record{{Topic: "orders", Key: []byte(k0), Value: []byte("0")}}}, a.onAck(0))
	p.Publish(ctx, Batch{Records: []pipeline.Record{{Topic: "orders", Key: []byte(k1), Value: []byte("1")}}}, a.onAck(1))
	// Batch 1 is in Kafka while batch 0 is stalled ...
	if got := consume(t, c, "orders", 1); string(got[0].Value) != "1" {
		t.Fatalf("first stored record = %q; want batch 1's", got[0].Value)
	}
	// ... and its record's promise has run (the records metric counts it),
	// yet nothing is acknowledged.
	testenv.Await(t, 10*time.Second, "the client's acknowledgement of batch 1's record", func() (bool, error) {
		return testutil.ToFloat64(p.m.records.WithLabelValues("orders")) == 1, nil
	})
	if n := a.n.Load(); n != 0 {
		t.Fatalf("%d acknowledgements while batch 0 is stalled; want 0", n)
	}
	close(release)
	a.wait(t)
	if a.ids[0] != 0 || a.ids[1] != 1 || a.errs[0] != nil || a.errs[1] != nil {
		t.Fatalf("acks = %v %v; want [0 1] without errors", a.ids, a.errs)
	}
}

// TestIntegrationAckedSurvivesBrokerRestart restarts the broker (on disk,
// SyncWrites) after the acknowledgements: everything acknowledged is there,
// and the recorded partition counts survive too.
func TestIntegrationAckedSurvivesBrokerRestart(t *testing.T) {
	k := testenv.NewKafka(t, services.KafkaOptions{SyncWrites: true})
	p, _ := newPublisher(t, k.Cluster(), Config{Topics: TopicConfig{Partitions: 3}})
	ctx := t.Context()
	if err := p.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatal(err)
	}
	const batches, perBatch = 20, 50
	a := newAcks(batches)
	for b := range batches {
		recs := make([]pipeline.Record, perBatch)
		for i := range recs {
			recs[i] = pipeline.Record{Topic: "orders", Key: []byte("k" + strconv.Itoa(i%7)), Value: []byte(strconv.Itoa(b*perBatch + i))}
		}
		p.Publish(ctx, Batch{Records: recs}, a.onAck(b))
	}
	a.wait(t)
	for i, err := range a.errs {
		if err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
	}
	p.Close()
	if err := k.Restart(ctx); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	p2, _ := newPublisher(t, k.Cluster(), Config{Topics: TopicConfig{Partitions: 3}})
	if err := p2.EnsureTopics(ctx, []string{"orders"}); err != nil {
		t.Fatalf("EnsureTopics after the restart: %v", err)
	}
	got := consume(t, k.Cluster(), "orders", batches*perBatch)
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	if len(got) != batches*perBatch || len(seen) != batches*perBatch {
		t.Errorf("after the restart: %d records, %d distinct; want %d", len(got), len(seen), batches*perBatch)
	}
}

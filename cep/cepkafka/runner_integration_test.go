package cepkafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

func TestMain(m *testing.M) { testenv.MainVerifyNoLeaks(m) }

const testRules = `
version: 1
rules:
  - name: overdue
    version: 1
    kind: absence
    aggregate: order
    start: {type: OrderPromised}
    expect: {type: OrderDeclared}
    within: 10s
    emit:
      type: OrderOverdue
      version: 1
      data: {order_id: matched.start.data.order_id, due: deadline}
    resolve:
      type: OrderOverdueResolved
      version: 1
      within: 30s
      data: {order_id: matched.start.data.order_id}
  - name: busy_customer
    version: 1
    kind: count
    aggregate: customer
    on: {type: OrderPromised}
    key: data.customer_id
    window: 20s
    at_least: 3
    emit:
      type: CustomerBusy
      version: 1
      data: {customer_id: matched.last.data.customer_id, promised: count}
`

// testInputs returns n orders' events over 3 partitions of topic in
// position order, then a progress record per partition far enough later
// to fire every deadline: each order is promised, and declared in time,
// late (a resolution) or never, by its number.
func testInputs(topic string, n int) []cep.Input {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	type ev struct {
		at   time.Time
		typ  string
		id   int
		part int32
	}
	var evs []ev
	for i := range n {
		at := t0.Add(time.Duration(i) * 300 * time.Millisecond)
		part := int32(i % 3)
		evs = append(evs, ev{at, "OrderPromised", i, part})
		switch i % 4 {
		case 0:
			evs = append(evs, ev{at.Add(5 * time.Second), "OrderDeclared", i, part})
		case 1:
			evs = append(evs, ev{at.Add(15 * time.Second), "OrderDeclared", i, part})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	var out []cep.Input
	offsets := map[int32]int64{}
	for i, e := range evs {
		pos := pipeline.MakePosition(capture.LSN(0x100*(i+1)), 0, 0)
		p := cep.PartitionID{Topic: topic, Partition: e.part}
		out = append(out, cep.Input{Partition: p, Offset: offsets[e.part], Event: pipeline.Event{
			ID: pipeline.EventID("src", pos), Source: "src", Type: e.typ, Version: 1, AggregateType: "order",
			AggregateID: fmt.Sprint(e.id), Position: pos, LSN: capture.LSN(0x100 * (i + 1)), Time: e.at,
			Data: fmt.Appendf(nil, `{"order_id":%d,"customer_id":%d}`, e.id, e.id%7),
		}})
		offsets[e.part]++
	}
	last := evs[len(evs)-1].at.Add(time.Minute)
	for p := range int32(3) {
		lsn := capture.LSN(0x100 * (len(evs) + 1 + int(p)))
		out = append(out, cep.Input{Partition: cep.PartitionID{Topic: topic, Partition: p}, Offset: offsets[p],
			Event: pipeline.NewProgress("src", "order", lsn, last)})
		offsets[p]++
	}
	return out
}

// expectedIDs runs the engine in memory over inputs.
func expectedIDs(t *testing.T, rules *cep.Rules, topic string, inputs []cep.Input) []string {
	t.Helper()
	parts := []cep.PartitionID{{Topic: topic, Partition: 0}, {Topic: topic, Partition: 1}, {Topic: topic, Partition: 2}}
	e, err := cep.New(rules, cep.Config{Source: "cdcflow://cep/test", Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range inputs {
		if err := e.Feed(in, func(d pipeline.Event) { ids = append(ids, d.ID) }); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(ids)
	return ids
}

func produceInputs(t *testing.T, cl *kgo.Client, inputs []cep.Input) {
	t.Helper()
	for _, in := range inputs {
		rec, err := pipeline.EncodeEvent(in.Event, in.Partition.Topic, pipeline.Structured)
		if err != nil {
			t.Fatal(err)
		}
		kr := &kgo.Record{Topic: rec.Topic, Partition: in.Partition.Partition, Key: rec.Key, Value: rec.Value}
		for _, h := range rec.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if err := cl.ProduceSync(t.Context(), kr).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// derivedIDs reads topic with read_committed to its last stable offsets
// and returns the ids of its events, sorted.
func derivedIDs(t *testing.T, brokers []string, topic string) []string {
	t.Helper()
	ctx := t.Context()
	adm := kadm.NewClient(newTestClient(t, brokers))
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	start := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			start[o.Partition], want[o.Partition] = kgo.NewOffset().AtStart(), o.Offset
		}
	})
	var ids []string
	if len(want) == 0 {
		return ids
	}
	rd := newTestClient(t, brokers, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if err := firstError(fs); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset >= end-1 {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			ev, err := decode(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ev.ID)
		})
	}
	slices.Sort(ids)
	return ids
}

func newTestClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

type running struct {
	r    *Runner
	stop context.CancelFunc
	done chan error
}

func start(t *testing.T, cfg Config, rules *cep.Rules) *running {
	t.Helper()
	r, err := New(cfg, rules)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := &running{r: r, stop: cancel, done: make(chan error, 1)}
	go func() { x.done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-x.done })
	return x
}

// TestRunnerRestartAndFence: a runner stopped cleanly, a second one
// fenced by a third with the same name, and a merge held back by a small
// MaxBuffered still derive exactly what the engine derives in memory, each
// event once.
func TestRunnerRestartAndFence(t *testing.T) {
	kafka := testenv.Kafka(t)
	brokers := kafka.Addrs()
	const topic = "t.order"
	adm := kadm.NewClient(newTestClient(t, brokers))
	if _, err := adm.CreateTopic(t.Context(), 3, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	rules, err := cep.ParseRules("test.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	inputs := testInputs(topic, 1000)
	want := expectedIDs(t, rules, topic, inputs)
	if len(want) < 50 {
		t.Fatalf("the inputs derive only %d events: not a test", len(want))
	}
	producer := newTestClient(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	half := len(inputs) / 2
	produceInputs(t, producer, inputs[:half])

	cfg := Config{Brokers: brokers, Name: "test", Inputs: []string{topic}, Topic: "t.derived", Partitions: 3,
		Source: "cdcflow://cep/test", CommitInterval: 50 * time.Millisecond, TxTimeout: 5 * time.Second, MaxBuffered: 5}

	// A first runner, stopped cleanly once it committed derived events.
	a := start(t, cfg, rules)
	testenv.Await(t, 30*time.Second, "the first runner to commit derived events", func() (bool, error) {
		return len(derivedIDs(t, brokers, cfg.Topic)) > 0, nil
	})
	a.stop()
	if err := <-a.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v; want context.Canceled", err)
	}
	a.done <- nil // for the cleanup

	// A second runner, fenced by a third of the same name: its next
	// commit (of the records produced now) fails.
	b := start(t, cfg, rules)
	testenv.Await(t, 30*time.Second, "the second runner to consume", func() (bool, error) { return b.r.Ready() == nil, nil })
	c := start(t, cfg, rules)
	testenv.Await(t, 30*time.Second, "the third runner to consume", func() (bool, error) { return c.r.Ready() == nil, nil })
	produceInputs(t, producer, inputs[half:])
	// One of the two stops, fenced (the second, unless an error of its
	// own made it start a new session, which fenced the third in turn).
	select {
	case err := <-b.done:
		if !isFenced(err) {
			t.Errorf("the second runner's Run = %v; want a fenced error", err)
		}
		t.Logf("the second runner stopped: %v", err)
		b.done <- err
	case err := <-c.done:
		if !isFenced(err) {
			t.Errorf("the third runner's Run = %v; want a fenced error", err)
		}
		t.Logf("the third runner stopped: %v", err)
		c.done <- err
	case <-time.After(30 * time.Second):
		t.Fatal("neither of two runners with one name was fenced within 30s")
	}
	testenv.Await(t, 60*time.Second, "the derived topic to hold every derived event", func() (bool, error) {
		return len(derivedIDs(t, brokers, cfg.Topic)) >= len(want), nil
	})
	if got := derivedIDs(t, brokers, cfg.Topic); !slices.Equal(got, want) {
		t.Errorf("derived %d events, want %d; the ids differ:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
}

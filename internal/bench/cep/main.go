package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/pipeline"
)

type options struct {
	events     int
	partitions int
	progress   int
	runs       int
	timers     int
	rules      string
	binary     bool
	cpuprofile string
}

func main() {
	var o options
	flag.IntVar(&o.events, "events", 1_000_000, "reference events written to the topic")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of the topic")
	flag.IntVar(&o.progress, "progress", 1000, "a progress record on every partition after this many events")
	flag.IntVar(&o.runs, "runs", 3, "runs of each reader (the median is reported)")
	flag.IntVar(&o.timers, "timers", 1_000_000, "open absence timers of the memory figure (0: skip it)")
	flag.StringVar(&o.rules, "rules", "deploy/examples/orders/cep.yaml", "the rules file")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the runs of the Feed reader to this file")
	flag.BoolVar(&o.binary, "binary", false, "write the records in binary mode (ce_ headers, kafka.envelope: binary) instead of structured")
	flag.Parse()
	benchkit.Main("cep", func(ctx context.Context) error { return run(ctx, o) })
}

const topic = "shop.order"

func envelopeMode(o options) pipeline.EnvelopeMode {
	if o.binary {
		return pipeline.Binary
	}
	return pipeline.Structured
}

func run(ctx context.Context, o options) error {
	if o.events < 1 || o.partitions < 1 || o.progress < 1 || o.runs < 1 || o.timers < 0 {
		return errors.New("-events, -partitions, -progress and -runs must be positive, -timers not negative")
	}
	src, err := os.ReadFile(o.rules)
	if err != nil {
		return fmt.Errorf("read the rules (run from the repository root, or give -rules): %w", err)
	}
	rs, err := cep.ParseRules(o.rules, src)
	if err != nil {
		return err
	}
	k, err := services.StartKafka(ctx, services.KafkaOptions{Partitions: o.partitions})
	if err != nil {
		return err
	}
	defer k.Close()
	fmt.Fprintf(os.Stderr, "writing %d events to %s (%d partitions)...\n", o.events, topic, o.partitions)
	total, err := fill(ctx, k.Addrs(), o)
	if err != nil {
		return err
	}

	type reader struct {
		name string
		read func() (n, derived int, err error)
	}
	readers := []reader{
		{"raw consume", func() (int, int, error) { return consume(ctx, k.Addrs(), o.partitions, total, nil, false) }},
		{"consume + DecodeRecord", func() (int, int, error) { return consume(ctx, k.Addrs(), o.partitions, total, nil, true) }},
		{"consume + DecodeRecord + Feed", func() (int, int, error) {
			parts := make([]cep.PartitionID, o.partitions)
			for i := range parts {
				parts[i] = cep.PartitionID{Topic: topic, Partition: int32(i)}
			}
			e, err := cep.New(rs, cep.Config{Source: "cdcflow://cep/bench", Partitions: parts})
			if err != nil {
				return 0, 0, err
			}
			return consumeFeed(ctx, k.Addrs(), o.partitions, total, e)
		}},
	}
	rates := map[string][]float64{}
	cpus := map[string][]float64{}
	derived := 0
	for i := range o.runs {
		order := slices.Clone(readers)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, r := range order {
			runtime.GC()
			stopProfile := func() error { return nil }
			if o.cpuprofile != "" && r.name == readers[2].name {
				if stopProfile, err = startProfile(o.cpuprofile, i); err != nil {
					return err
				}
			}
			cpu0 := cpuTime()
			t0 := time.Now()
			n, d, err := r.read()
			if err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			wall := time.Since(t0)
			if err := stopProfile(); err != nil {
				return err
			}
			if n != total {
				return fmt.Errorf("%s read %d records; want %d", r.name, n, total)
			}
			rates[r.name] = append(rates[r.name], float64(o.events)/wall.Seconds())
			cpus[r.name] = append(cpus[r.name], float64(cpuTime()-cpu0)/float64(o.events))
			derived = max(derived, d)
			fmt.Fprintf(os.Stderr, "run %d %-30s %.0f events/s\n", i+1, r.name, float64(o.events)/wall.Seconds())
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "%d reference events (%d records with progress), %s mode, %d partitions, median of %d runs, rules %s (%d derived events)\n\n",
		o.events, total, envelopeMode(o), o.partitions, o.runs, o.rules, derived)
	fmt.Fprintln(w, "reader\tevents/s\tCPU µs/event")
	for _, r := range readers {
		fmt.Fprintf(w, "%s\t%.0f\t%.2f\n", r.name, benchkit.Median(rates[r.name]), benchkit.Median(cpus[r.name])/1e3)
	}
	raw, full := benchkit.Median(rates[readers[0].name]), benchkit.Median(rates[readers[2].name])
	fmt.Fprintf(w, "\nratio (cep / raw consume)\t%.2f\t(goal ≥ 0.5)\n", full/raw)
	if err := w.Flush(); err != nil {
		return err
	}
	if o.timers > 0 {
		b, err := timerBytes(rs, o.timers)
		if err != nil {
			return err
		}
		fmt.Printf("\nheap per open absence timer, %d open: %.1f bytes (goal ≤ 300)\n", o.timers, b)
	}
	return nil
}

// startProfile starts the CPU profile of the Feed reader's run i (the
// file of run 0, run-numbered files for the next ones).
func startProfile(path string, i int) (stop func() error, err error) {
	if i > 0 {
		path += "." + strconv.Itoa(i)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// fill writes the reference events and the progress records and returns
// how many records the topic holds.
func fill(ctx context.Context, addrs []string, o options) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var perr error
	n := 0
	produce := func(r pipeline.Record, p int32) {
		kr := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Partition: p}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		n++
		cl.Produce(ctx, kr, func(_ *kgo.Record, err error) {
			if err != nil && perr == nil {
				perr = err
			}
		})
	}
	mode := envelopeMode(o)
	g := newGenerator(o.partitions)
	for i := range o.events {
		ev, p := g.next()
		r, err := pipeline.EncodeEvent(ev, topic, mode)
		if err != nil {
			return 0, err
		}
		produce(r, p)
		if (i+1)%o.progress == 0 {
			g.lsn += 16
			pr := pipeline.NewProgress(source, "order", g.lsn, g.now)
			r, err := pipeline.EncodeEvent(pr, topic, mode)
			if err != nil {
				return 0, err
			}
			for p := range o.partitions {
				produce(r, int32(p))
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	return n, perr
}

// newReader returns a client reading every partition of the topic from its
// start, read_committed, as the runtime reads its inputs.
func newReader(addrs []string, partitions int) (*kgo.Client, error) {
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	return kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
}

// consume reads every partition from its start until it has total records;
// with decode it decodes each, and with e it feeds the engine.
func consume(ctx context.Context, addrs []string, partitions, total int, e *cep.Engine, decode bool) (n, derived int, err error) {
	cl, err := newReader(addrs, partitions)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	emit := func(pipeline.Event) { derived++ }
	for n < total {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return n, derived, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err) })
		if ferr != nil {
			return n, derived, ferr
		}
		it := fs.RecordIter()
		for !it.Done() {
			kr := it.Next()
			n++
			if !decode {
				continue
			}
			r := pipeline.Record{Topic: kr.Topic, Key: kr.Key, Value: kr.Value}
			for _, h := range kr.Headers {
				r.Headers = append(r.Headers, pipeline.Header{Key: h.Key, Value: h.Value})
			}
			ev, err := pipeline.DecodeRecord(r)
			if err != nil {
				return n, derived, fmt.Errorf("decode %s/%d@%d: %w", kr.Topic, kr.Partition, kr.Offset, err)
			}
			if e == nil {
				continue
			}
			in := cep.Input{Partition: cep.PartitionID{Topic: kr.Topic, Partition: kr.Partition}, Offset: kr.Offset, Event: ev}
			if err := e.Feed(in, emit); err != nil {
				return n, derived, err
			}
		}
	}
	return n, derived, nil
}

// consumeFeed reads every partition from its start until it has total
// records and feeds them to e as the runtime (cep/cepkafka) does: one
// goroutine polls and decodes each poll's records, one batch ahead of this
// one, which feeds the engine in poll order.
func consumeFeed(ctx context.Context, addrs []string, partitions, total int, e *cep.Engine) (n, derived int, err error) {
	cl, err := newReader(addrs, partitions)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	type batch struct {
		ins []cep.Input
		err error
	}
	rctx, stop := context.WithCancel(ctx)
	batches := make(chan batch, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		read := 0
		for read < total {
			fs := cl.PollFetches(rctx)
			if rctx.Err() != nil {
				return
			}
			var b batch
			b.err = fs.Err0()
			fs.EachError(func(t string, p int32, err error) {
				if b.err == nil {
					b.err = fmt.Errorf("fetch %s/%d: %w", t, p, err)
				}
			})
			if b.err == nil {
				b.ins = make([]cep.Input, 0, fs.NumRecords())
				for it := fs.RecordIter(); !it.Done(); {
					kr := it.Next()
					r := pipeline.Record{Topic: kr.Topic, Key: kr.Key, Value: kr.Value}
					for _, h := range kr.Headers {
						r.Headers = append(r.Headers, pipeline.Header{Key: h.Key, Value: h.Value})
					}
					ev, err := pipeline.DecodeRecord(r)
					if err != nil {
						b.err = fmt.Errorf("decode %s/%d@%d: %w", kr.Topic, kr.Partition, kr.Offset, err)
						break
					}
					b.ins = append(b.ins, cep.Input{Partition: cep.PartitionID{Topic: kr.Topic, Partition: kr.Partition}, Offset: kr.Offset, Event: ev})
				}
				read += len(b.ins)
			}
			select {
			case batches <- b:
			case <-rctx.Done():
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	defer func() {
		stop()
		<-done
	}()
	emit := func(pipeline.Event) { derived++ }
	for n < total {
		var b batch
		select {
		case b = <-batches:
		case <-ctx.Done():
			return n, derived, ctx.Err()
		}
		if b.err != nil {
			return n, derived, b.err
		}
		for _, in := range b.ins {
			n++
			if err := e.Feed(in, emit); err != nil {
				return n, derived, err
			}
		}
	}
	return n, derived, nil
}

const source = "postgres://7263845210918273645/shop?tl=1"

// generator makes the reference order events: each order requested, then
// promised (most) or declined, then declared (most promised ones, some
// after the 24 h deadline), with commit times a few seconds apart.
type generator struct {
	parts   int
	lsn     capture.LSN
	now     time.Time
	order   int
	pending []step // events of started orders, in time order
}

type step struct {
	typ   string
	order int
	at    time.Time
}

func newGenerator(parts int) *generator {
	return &generator{parts: parts, lsn: 0x1000000, now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
}

// next returns the next event and its partition.
func (g *generator) next() (pipeline.Event, int32) {
	if len(g.pending) == 0 || g.pending[0].at.After(g.now) {
		g.order++
		g.pending = append(g.pending, step{"OrderRequested", g.order, g.now})
		h := g.order * 2654435761 % 100
		second := "OrderPromised"
		if h < 15 {
			second = "OrderDeclined"
		}
		g.pending = append(g.pending, step{second, g.order, g.now.Add(time.Duration(h) * time.Minute)})
		if second == "OrderPromised" && h < 90 {
			// Most are shipped in time; those with h ≥ 70 after the deadline.
			g.pending = append(g.pending, step{"OrderDeclared", g.order, g.now.Add(time.Duration(h) * 20 * time.Minute)})
		}
		slices.SortStableFunc(g.pending, func(a, b step) int { return a.at.Compare(b.at) })
	}
	s := g.pending[0]
	g.pending = g.pending[1:]
	if s.at.After(g.now) {
		g.now = s.at
	}
	g.now = g.now.Add(2 * time.Second)
	g.lsn += 16
	id := strconv.Itoa(s.order)
	pos := pipeline.MakePosition(g.lsn, 0, 0)
	var data string
	if s.typ == "OrderRequested" {
		data = `{"order_id":` + id + `,"customer_id":` + strconv.Itoa(s.order%5000) + `,"total":"129.90","currency":"EUR","created_by":"web","ordered_at":"` +
			g.now.Format("2006-01-02T15:04:05.000000") + `","lines":[{"line_no":1,"product_id":17,"quantity":2,"unit_price":"64.95"}]}`
	} else {
		data = `{"order_id":` + id + `,"from":"N","total":"129.90","currency":"EUR","at":"` + g.now.Format(time.RFC3339Nano) + `"}`
	}
	ev := pipeline.Event{
		ID: pipeline.EventID(source, pos), Source: source, Type: s.typ, Version: 1, AggregateType: "order", AggregateID: id,
		Position: pos, LSN: g.lsn, XID: uint32(g.lsn >> 4), Time: g.now, Data: []byte(data),
	}
	return ev, int32(s.order % g.parts)
}

// timerBytes returns the heap bytes per open absence timer with n open,
// above the empty engine's.
func timerBytes(rs *cep.Rules, n int) (float64, error) {
	part := cep.PartitionID{Topic: topic, Partition: 0}
	e, err := cep.New(rs, cep.Config{Source: "cdcflow://cep/bench", Partitions: []cep.PartitionID{part}})
	if err != nil {
		return 0, err
	}
	base := heapBytes()
	lsn := capture.LSN(16)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		lsn += 16
		pos := pipeline.MakePosition(lsn, 0, 0)
		id := strconv.Itoa(i)
		ev := pipeline.Event{ID: pipeline.EventID("src", pos), Source: "src", Type: "OrderPromised", Version: 1, AggregateType: "order",
			AggregateID: id, Position: pos, LSN: lsn, Time: t0, Data: []byte(`{"order_id":` + id + `,"total":"12.50","currency":"EUR"}`)}
		if err := e.Feed(cep.Input{Partition: part, Offset: int64(i), Event: ev}, func(pipeline.Event) {}); err != nil {
			return 0, err
		}
	}
	used := heapBytes() - base
	open := 0
	for _, s := range e.Stats() {
		open += s.Timers
	}
	if open != n {
		return 0, fmt.Errorf("open timers = %d; want %d", open, n)
	}
	runtime.KeepAlive(e)
	return float64(used) / float64(n), nil
}

func heapBytes() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

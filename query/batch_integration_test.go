package query

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// concurrentReads reads every order o00..o<n-1> rounds times over the HTTP
// API from conns goroutines at once, and checks each answer is its own
// entity (its id and customer) with the freshness of every partition.
func (f *fixture) concurrentReads(n, rounds, conns int) int {
	f.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Go(func() {
			for i := c; i < n*rounds; i += conns {
				id := fmt.Sprintf("o%02d", i%n)
				code, body := f.get("/v1/views/order/entities/" + id)
				if code != http.StatusOK {
					errs <- fmt.Errorf("GET %s = %d %v", id, code, body)
					return
				}
				fields, _ := body["fields"].(map[string]any)
				fr, _ := body["freshness"].(map[string]any)
				parts, _ := fr["partitions"].([]any)
				if body["id"] != id || fields["customer_id"] != fmt.Sprintf("c%d", (i%n)%4) || len(parts) != f.parts {
					errs <- fmt.Errorf("GET %s = %v; want order %s of customer c%d with %d partitions", id, body, id, (i%n)%4, f.parts)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		f.t.Error(err)
	}
	return n * rounds
}

// batches returns how many batches the batcher sent and how many reads
// they held (cdcflow_query_redis_batch_size).
func (f *fixture) batches() (int, int) {
	f.t.Helper()
	count, sum := histogramOf(f.t, f.reg, "cdcflow_query_redis_batch_size")
	return int(count), int(sum)
}

// TestIntegrationEntityBatch: concurrent entity reads go to Redis in
// batches, as an ACL user allowed only reads on the views' prefix; every
// read gets its own entity, each batch reads every partition's applied
// position once, and with read_batch 1 nothing is batched (one HMGET per
// read and partition, as before batching).
func TestIntegrationEntityBatch(t *testing.T) {
	const parts, orders = 2, 24
	for _, tc := range []struct {
		name  string
		batch int
	}{{"batched", 0}, {"read_batch=1", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, parts, Config{ReadBatch: tc.batch})
			f.loadOrders(orders)
			f.must("/v1/views/order/entities/o01") // warms the cached pointer
			b0, r0 := f.batches()
			if err := f.rdb.ConfigResetStat(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			reads := f.concurrentReads(orders, 20, 40)
			calls := f.commandCalls("hmget", "hgetall")
			b1, r1 := f.batches()
			batches, batched := b1-b0, r1-r0
			t.Logf("%d reads: %d batches, %d HMGET, %d HGETALL", reads, batches, calls["hmget"], calls["hgetall"])
			if calls["hgetall"] != reads*parts {
				t.Errorf("%d reads ran %d HGETALL; want %d (one per read and partition)", reads, calls["hgetall"], reads*parts)
			}
			if tc.batch == 1 {
				if batches != 0 || calls["hmget"] != reads*parts {
					t.Errorf("read_batch 1: %d batches and %d HMGET; want none and %d (one per read and partition)", batches, calls["hmget"], reads*parts)
				}
				return
			}
			if batched != reads || calls["hmget"] != batches*parts {
				t.Errorf("%d reads: %d batched in %d batches with %d HMGET; want all batched, one HMGET per batch and partition (%d)",
					reads, batched, batches, calls["hmget"], batches*parts)
			}
			if batches >= reads {
				t.Errorf("%d concurrent reads went in %d batches; want fewer batches than reads", reads, batches)
			}
		})
	}
}

// gate holds the entity-read pipelines (those with HGETALL) sent while it
// has holds left until release is closed, and tells started of each.
type gate struct {
	holds   atomic.Int32
	started chan struct{}
	release chan struct{}
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, func(c redis.Cmder) bool { return c.Name() == "hgetall" }) && g.holds.Add(-1) >= 0 {
			g.started <- struct{}{}
			<-g.release
		}
		return next(ctx, cmds)
	}
}

// TestIntegrationEntityBatchCancel: a read that finds no other goes alone
// at once; a read whose request is canceled while it waits in a batch
// leaves the other reads of that batch their answers; a batch is sent only
// when the batcher's previous pipeline is back, and a read of another
// generation goes in a batch of its own.
func TestIntegrationEntityBatchCancel(t *testing.T) {
	g := &gate{started: make(chan struct{}, 2), release: make(chan struct{})}
	f := newFixtureHooked(t, 2, Config{}, g)
	f.loadOrders(4)
	f.must("/v1/views/order/entities/o01") // the batcher runs
	b := &f.srv.batch
	snap := f.srv.reader.At(1)
	other := f.srv.reader.At(7) // a generation that does not exist: no entity there
	b0, r0 := f.batches()
	type answer struct {
		read redisview.EntityRead
		err  error
	}
	read := func(ctx context.Context, snap *redisview.Snapshot, id string) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			r, err := b.readEntity(ctx, snap, "order", id)
			ch <- answer{r, err}
		}()
		return ch
	}
	queued := func(n int) {
		testenv.Await(t, 5*time.Second, fmt.Sprintf("%d reads queued", n), func() (bool, error) {
			return len(b.cur.Load().reqs) == n, nil
		})
	}
	// The first read goes alone (nothing else is read), the second to the
	// batcher: both pipelines stay in flight, and the next reads queue.
	g.holds.Store(2)
	first := read(t.Context(), snap, "o00")
	<-g.started
	blocker := read(t.Context(), snap, "o01")
	<-g.started
	cctx, cancel := context.WithCancel(t.Context())
	canceled := read(cctx, snap, "o01")
	queued(1)
	second := read(t.Context(), snap, "o02")
	queued(2)
	third := read(t.Context(), snap, "o03")
	queued(3)
	elsewhere := read(t.Context(), other, "o03")
	queued(4)
	cancel()
	if a := <-canceled; !errors.Is(a.err, context.Canceled) {
		t.Errorf("canceled read = %+v, %v; want context.Canceled at once", a.read, a.err)
	}
	close(g.release)
	for _, c := range []struct {
		ch <-chan answer
		id string
	}{{first, "o00"}, {blocker, "o01"}, {second, "o02"}, {third, "o03"}} {
		a := <-c.ch
		if a.err != nil || a.read.Fields["customer_id"] == "" || len(a.read.Applied) != 2 || a.read.Applied[0].AppliedLSN == 0 {
			t.Errorf("read %s = %+v, %v; want its entity and both partitions' applied positions", c.id, a.read, a.err)
		}
	}
	if a := <-elsewhere; a.err != nil || a.read.Fields != nil {
		t.Errorf("read of generation 7 = %+v, %v; want no entity (and no error)", a.read, a.err)
	}
	// The first read alone, the second alone; the canceled one with the
	// next two (one generation); generation 7 alone.
	b1, r1 := f.batches()
	if b1-b0 != 4 || r1-r0 != 6 {
		t.Errorf("%d batches holding %d reads; want 4 batches (of 1, 1, 3 and 1 reads)", b1-b0, r1-r0)
	}
	if n := b.cur.Load().busy.Load(); n != 0 {
		t.Errorf("%d reads counted busy after all answered; want 0", n)
	}
}

// TestIntegrationEntityBatchStop: once Serve returned, entity reads go to
// Redis directly, and the batcher's goroutine is gone (goleak checks the
// package).
func TestIntegrationEntityBatchStop(t *testing.T) {
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	prefix := srv.Prefix(t)
	defs := testDefinitions(t)
	f := &fixture{t: t, rdb: rdb, prefix: prefix, parts: 1, defs: defs, views: map[int64]*redisview.Views{}, stored: map[[2]int64]int64{}}
	f.generation(1)
	if err := redisview.Swap(t.Context(), rdb, prefix, 0, 1); err != nil {
		t.Fatal(err)
	}
	f.loadOrders(2)
	s, err := New(Config{Metrics: NewMetrics(prometheus.NewRegistry())}, defs, rdb, prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, "127.0.0.1:0") }()
	testenv.Await(t, 5*time.Second, "the batcher running", func() (bool, error) { return s.batch.cur.Load() != nil, nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if s.batch.cur.Load() != nil {
		t.Fatal("the batcher still runs after Serve returned")
	}
	r, err := s.batch.readEntity(t.Context(), s.reader.At(1), "order", "o01")
	if err != nil || r.Fields["customer_id"] != "c1" {
		t.Fatalf("read after Serve = %+v, %v; want order o01 read directly", r, err)
	}
}

// TestIntegrationEntityBatchCluster: on a three-master Redis Cluster, with
// the partitions' keys on different masters, concurrent entity reads go in
// batches (go-redis splits each pipeline by node, keeping every
// partition's applied position before its entities) and each read gets its
// own entity with every partition's freshness.
func TestIntegrationEntityBatchCluster(t *testing.T) {
	const parts, orders = 3, 24
	cluster := testenv.NewRedisCluster(t, 3)
	admin := cluster.Client(t)
	f := &fixture{t: t, rdb: admin, prefix: "qc:", parts: parts, defs: testDefinitions(t),
		views: map[int64]*redisview.Views{}, stored: map[[2]int64]int64{}}
	f.generation(1)
	if err := redisview.Swap(t.Context(), admin, f.prefix, 0, 1); err != nil {
		t.Fatal(err)
	}
	f.loadOrders(orders)
	masters := map[string]bool{}
	for p := range parts {
		node, err := admin.MasterForKey(t.Context(), fmt.Sprintf("%s{p%d}:g1:applied", f.prefix, p))
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
	}
	if len(masters) < 2 {
		t.Fatalf("the %d partitions' keys are on %d master(s); want them spread", parts, len(masters))
	}
	f.start(cluster.Client(t), Config{})
	f.must("/v1/views/order/entities/o01")
	b0, r0 := f.batches()
	reads := f.concurrentReads(orders, 20, 40)
	b1, r1 := f.batches()
	t.Logf("%d reads over %d masters: %d batches", reads, len(masters), b1-b0)
	if r1-r0 != reads || b1-b0 >= reads {
		t.Errorf("%d concurrent reads: %d batched in %d batches; want all, in fewer batches than reads", reads, r1-r0, b1-b0)
	}
}

package redisview

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// benchBatch is the representative batch of the apply benchmarks: half of its
// events request new orders (spread over 100 customers and 10 days), half
// accept the orders the previous batch requested, so that every batch moves
// orders between the pending index, the counts per status and the revenue per
// day, as a live order flow does. Batch k of partition p has events with
// positions above every earlier batch's.
func benchBatch(p int32, k, size int) []pipeline.Event {
	evs := make([]pipeline.Event, 0, size)
	half := size / 2
	lsn := uint64(k*size) + 1
	for i := range half {
		n := k*half + i
		id := fmt.Sprintf("p%do%d", p, n)
		evs = append(evs, orderEvent(id, "OrderRequested", lsn, map[string]any{
			"customer_id": fmt.Sprintf("c%d", n%100), "total": fmt.Sprintf("%d.%02d", 10+n%90, n%100),
			"ordered_at": fmt.Sprintf("2026-11-%02dT%02d:30:00Z", 10+n%10, n%24)}))
		lsn++
		if k > 0 {
			prev := fmt.Sprintf("p%do%d", p, n-half)
			evs = append(evs, orderEvent(prev, "OrderAccepted", lsn, nil))
			lsn++
		}
	}
	return evs
}

// benchStart is the offset of batch k's first record (batch 0 has only
// requests).
func benchStart(k, size int) int64 {
	if k == 0 {
		return 0
	}
	return int64(size/2 + (k-1)*size)
}

func benchRecords(evs []pipeline.Event, first int64) []Record {
	recs := make([]Record, len(evs))
	for i, ev := range evs {
		recs[i] = Record{Offset: first + int64(i), Event: ev}
	}
	return recs
}

// redisCPU returns the CPU seconds (user + system) the Redis server used.
func redisCPU(t testing.TB, rdb redis.UniversalClient) float64 {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("INFO cpu %s: %v", line, err)
			}
			sum += f
		}
	}
	return sum
}

// commandStats returns INFO commandstats as "cmd calls usec_per_call" lines
// and resets the statistics.
func commandStats(t testing.TB, rdb redis.UniversalClient) string {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	re := regexp.MustCompile(`^cmdstat_(\w+):calls=(\d+),usec=(\d+),usec_per_call=([0-9.]+)`)
	for _, line := range strings.Split(info, "\n") {
		if m := re.FindStringSubmatch(strings.TrimSpace(line)); m != nil && m[1] != "info" && m[1] != "config" {
			out = append(out, fmt.Sprintf("%s %s calls %s µs/call", m[1], m[2], m[4]))
		}
	}
	if err := rdb.ConfigResetStat(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

// selfCPU returns the CPU seconds this process used.
func selfCPU(t testing.TB) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// TestIntegrationApplyVsCeiling is the apply benchmark of the issue, in one
// run: the events per second Views.Apply stores (4 partitions applied
// concurrently, as the consumer applies a poll's partitions, batches of 100
// events from benchBatch) against the ceiling of the same Redis, measured
// with redis-benchmark running the same apply script (EVALSHA) with the same
// batch: the step the materializer sent for its last batch, 100 events per
// script in both, position checks included, 4 connections in both. The two
// are measured alternately, three times each, and the median ratio is
// reported. Event decoding (Kafka) is not included: the events are built
// before the clock starts. It runs only with CDCFLOW_BENCH=1, since it is a
// measurement, not a check; CDCFLOW_BENCH_BATCHES sets the batches per
// partition and round (default 150).
func TestIntegrationApplyVsCeiling(t *testing.T) {
	if os.Getenv("CDCFLOW_BENCH") == "" {
		t.Skip("set CDCFLOW_BENCH=1 to measure apply throughput against the redis-benchmark ceiling")
	}
	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Skip("redis-benchmark not found: install redis-tools")
	}
	batches := 150
	if s := os.Getenv("CDCFLOW_BENCH_BATCHES"); s != "" {
		if batches, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	const size, parts = 100, 4
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	v, err := New(Config{Prefix: srv.Prefix(t)}, testDefinitions(t), rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	next := make([]int, parts) // next batch number per partition

	// applyRound applies batches batches to each partition concurrently and
	// returns events/s, Go CPU seconds and Redis CPU seconds per event.
	applyRound := func() (rate, goCPU, redisCPUPer float64) {
		all := make([][]Batch, parts)
		for p := range parts {
			for range batches {
				k := next[p]
				next[p]++
				evs := benchBatch(int32(p), k, size)
				from := benchStart(k, size)
				if k == 0 {
					from = -1
				}
				all[p] = append(all[p], Batch{Topic: "shop.order", Partition: int32(p), From: from, Records: benchRecords(evs, benchStart(k, size))})
			}
		}
		events := 0
		for p := range all {
			for _, b := range all[p] {
				events += len(b.Records)
			}
		}
		commandStats(t, rdb)
		cpu0, r0 := selfCPU(t), redisCPU(t, rdb)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, parts)
		for p := range parts {
			wg.Go(func() {
				for _, b := range all[p] {
					if err := v.Apply(ctx, b); err != nil {
						errs[p] = err
						return
					}
				}
			})
		}
		wg.Wait()
		el := time.Since(start).Seconds()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		goCPU, redisCPUPer = (selfCPU(t)-cpu0)/float64(events), (redisCPU(t, rdb)-r0)/float64(events)
		t.Logf("apply: %d events; redis commands: %s", events, commandStats(t, rdb))
		return float64(events) / el, goCPU, redisCPUPer
	}

	// ceilingRound runs the script of the representative batch with
	// redis-benchmark and returns events/s and Redis CPU seconds per event.
	var sArgs []string
	var sEvents int
	ceilingRound := func() (rate, redisCPUPer float64) {
		commandStats(t, rdb)
		r0 := redisCPU(t, rdb)
		n := 600
		out, err := exec.CommandContext(ctx, bench, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port()),
			"-n", strconv.Itoa(n), "-c", strconv.Itoa(parts), "-q"}, sArgs...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-benchmark: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "ERR") {
			t.Fatalf("redis-benchmark reported errors:\n%s", out)
		}
		m := regexp.MustCompile(`([0-9.]+) requests per second`).FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("redis-benchmark output has no rate:\n%s", out)
		}
		rps, _ := strconv.ParseFloat(m[1], 64)
		redisCPUPer = (redisCPU(t, rdb) - r0) / float64(n*sEvents)
		stats := commandStats(t, rdb)
		t.Logf("ceiling: %d scripts; redis commands: %s", n, stats)
		if !strings.Contains(stats, fmt.Sprintf("rpush %d calls", n*sEvents)) {
			t.Fatalf("the ceiling's scripts did not all write (fenced or conflicting?): %s", stats)
		}
		// redis-benchmark sends a few commands of its own (CONFIG GET);
		// they are negligible next to n scripts.
		return rps * float64(sEvents), redisCPUPer
	}

	var rates, ceilings, ratios, models []float64
	for round := range 3 {
		rate, goCPU, rCPU := applyRound()
		if round == 0 {
			sArgs, sEvents = representativeStep(t, v, rdb, parts, size)
		}
		ceil, cCPU := ceilingRound()
		rates, ceilings, ratios = append(rates, rate), append(ceilings, ceil), append(ratios, rate/ceil)
		// What the CPU costs per event predict on otherwise idle cores:
		// the materializer is bound by all cores over Go + Redis, or by
		// Redis's one core; the ceiling by Redis's one core.
		cores := float64(runtime.NumCPU())
		models = append(models, min(cores/(goCPU+rCPU), 1/rCPU)/(1/cCPU))
		t.Logf("round %d: apply %.0f events/s (Go %.1f µs CPU/event, Redis %.1f µs CPU/event); redis-benchmark ceiling %.0f events/s (Redis %.1f µs CPU/event); ratio %.2f",
			round+1, rate, goCPU*1e6, rCPU*1e6, ceil, cCPU*1e6, rate/ceil)
	}
	med := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
	var load string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	t.Logf("median: apply %.0f events/s, ceiling %.0f events/s, ratio %.2f; ratio the CPU costs per event predict on %d idle cores %.2f (%d events per EVALSHA in both; %d partitions / connections; load average %s)",
		med(rates), med(ceilings), med(ratios), runtime.NumCPU(), med(models), size, parts, load)
}

// representativeStep applies batches 0 and 1 to partition p (which the
// apply rounds do not use), computes the step of batch 2 (what Apply would
// send: 50 new orders, 50 accepted), applies it once, and returns redis-benchmark's arguments for
// sending it again and again: the offset stays where it is (from == to) and
// each position check expects the value the step writes, so every call
// passes the fence and the checks and does the batch's writes.
func representativeStep(t *testing.T, v *Views, rdb redis.UniversalClient, p int32, size int) ([]string, int) {
	ctx := t.Context()
	for k := range 2 {
		from := benchStart(k, size)
		if k == 0 {
			from = -1
		}
		if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: p, From: from, Records: benchRecords(benchBatch(p, k, size), benchStart(k, size))}); err != nil {
			t.Fatal(err)
		}
	}
	const k = 2
	evs := benchBatch(p, k, size)
	recs := benchRecords(evs, benchStart(k, size))
	s, _, _, _, err := v.compute(ctx, "shop.order", p, recs, evs, make([]bool, len(evs)), nil)
	if err != nil {
		t.Fatal(err)
	}
	to := benchStart(k, size) + int64(len(evs))
	if err := v.run(ctx, s, "shop.order", benchStart(k, size), to); err != nil {
		t.Fatal(err)
	}
	var checks []any
	for _, g := range s.checks {
		checks = append(checks, g.key, len(g.fields))
		checks = append(checks, g.fields...)
		for _, f := range g.fields {
			cur, err := rdb.HGet(ctx, s.keys[g.key-1], f.(string)).Result()
			if err != nil {
				t.Fatal(err)
			}
			checks = append(checks, cur)
		}
	}
	off := strconv.FormatInt(to, 10)
	args := []string{"EVALSHA", applyScript.Hash(), strconv.Itoa(len(s.keys))}
	args = append(args, s.keys...)
	args = append(args, "shop.order", off, off, strconv.Itoa(len(s.checks)))
	for _, a := range append(checks, s.ops...) {
		args = append(args, fmt.Sprint(a))
	}
	t.Logf("representative step: %d events, %d keys, %d checks, %d write arguments", len(evs), len(s.keys), s.nCheck, len(s.ops))
	return args, len(evs)
}

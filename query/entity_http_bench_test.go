package query

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// BenchmarkEntityGetHTTP is BenchmarkEntityGet over real HTTP/1.1
// keep-alive connections to Serve (the load's client in the same process
// is a minimal one): for -cpuprofile of the whole server path. Its two
// sub-benchmarks are the A/B of read batching (batch.go): read_batch=1 sends
// every read alone, read_batch=64 is the default; with -count N they
// alternate in one process. Each reports the process's CPU per read
// (cpu-µs/op: the server's and the minimal client's, from getrusage),
// Redis's own (redis-µs/op, from INFO's used_cpu_sys and used_cpu_user)
// and the mean batch size: on a loaded machine these say more than ns/op.
// The conns=1 sub-benchmarks read over one connection, one read at a time:
// their ns/op is the latency of a lone read, which batching must not make
// longer (a lone read goes at once).
func BenchmarkEntityGetHTTP(b *testing.B) {
	for _, conns := range []int{50, 1} {
		for _, batch := range []int{1, DefaultReadBatch} {
			b.Run(fmt.Sprintf("conns=%d/read_batch=%d", conns, batch), func(b *testing.B) { benchEntityGetHTTP(b, batch, conns) })
		}
	}
}

func benchEntityGetHTTP(b *testing.B, batch, conns int) {
	srv := testenv.Redis(b)
	rdb := srv.Client(b)
	prefix := srv.Prefix(b)
	defs := testDefinitions(b)
	v, err := redisview.New(redisview.Config{Prefix: prefix, Generation: 1}, defs, rdb)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(requested("17", "129.90", "2026-11-23T10:15:00Z"))
	ev := pipeline.Event{ID: "e1", Source: "s", Type: "OrderRequested", Version: 1, AggregateType: "order", AggregateID: "1042",
		Position: pipeline.MakePosition(0x100, 0, 0), LSN: 0x100, Time: time.Now(), Data: data}
	if err := v.Apply(b.Context(), redisview.Batch{Topic: "shop.order", Partition: 0, From: -1, Records: []redisview.Record{{Offset: 0, Event: ev}}}); err != nil {
		b.Fatal(err)
	}
	if err := redisview.Swap(b.Context(), rdb, prefix, 0, 1); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := New(Config{Metrics: NewMetrics(reg), ReadBatch: batch}, defs, rdb, prefix, 1)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	addr := l.Addr().String()
	req := []byte("GET /v1/views/order/entities/1042 HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	redis0, cpu0 := redisCPU(b, rdb), processCPU()
	b.ReportAllocs()
	if conns == 1 {
		b.ResetTimer()
		load(b, addr, req, b.Loop)
	} else {
		b.SetParallelism(max(1, conns/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) { load(b, addr, req, pb.Next) })
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(redisCPU(b, rdb)-redis0)/float64(time.Microsecond)/float64(b.N), "redis-µs/op")
	if count, sum := histogramOf(b, reg, "cdcflow_query_redis_batch_size"); count > 0 {
		b.ReportMetric(sum/float64(count), "reads/batch")
	}
}

// load sends req over one keep-alive connection to addr and reads each
// answer while next says so.
func load(b *testing.B, addr string, req []byte, next func() bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Error(err)
		return
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for next() {
		if _, err := c.Write(req); err != nil {
			b.Error(err)
			return
		}
		n := -1
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Error(err)
				return
			}
			if line == "\r\n" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if n <= 0 {
			b.Error(fmt.Errorf("no Content-Length"))
			return
		}
		if _, err := r.Discard(n); err != nil {
			b.Error(err)
			return
		}
	}
}

// processCPU returns the CPU time this process has used (getrusage): the
// server's and the in-process client's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU returns the CPU time Redis has used (INFO cpu: system and user).
func redisCPU(b *testing.B, rdb redis.UniversalClient) time.Duration {
	info, err := rdb.Info(b.Context(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), k); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("INFO cpu: %q: %v", line, err)
				}
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// histogramOf returns the sample count and sum of the histogram name in reg.
func histogramOf(t testing.TB, reg *prometheus.Registry, name string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

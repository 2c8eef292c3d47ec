package query

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// BenchmarkEntityGetHTTP is BenchmarkEntityGet over real HTTP/1.1
// keep-alive connections to Serve (the load's client in the same process
// is a minimal one): for -cpuprofile of the whole server path.
func BenchmarkEntityGetHTTP(b *testing.B) {
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
	s, err := New(Config{Metrics: NewMetrics(prometheus.NewRegistry())}, defs, rdb, prefix, 1)
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
	b.ReportAllocs()
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for pb.Next() {
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
	})
}

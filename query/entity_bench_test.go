package query

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// BenchmarkEntityGet measures the server's own work for one
// GET /v1/views/order/entities/{id} on a real Redis (one partition, as
// internal/bench/query runs it), without the HTTP connection: routing,
// metrics, the Redis round trip and the JSON answer. Use it with -benchmem
// or -cpuprofile; internal/bench/query measures throughput.
func BenchmarkEntityGet(b *testing.B) {
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
	h := s.Handler()
	req := httptest.NewRequest(http.MethodGet, "/v1/views/order/entities/1042", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("GET = %d %s", w.Code, w.Body)
			}
		}
	})
}

package redisview

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// TestIntegrationScriptCeiling measures the ceiling of the Redis the views
// use: redis-benchmark running the apply script (EVALSHA) with the writes of
// a representative batch (100 events over 50 orders, every test view), so
// that BenchmarkApply's events per second can be compared with it. It runs
// only with CDCFLOW_BENCH=1, since it is a measurement, not a check.
func TestIntegrationScriptCeiling(t *testing.T) {
	if os.Getenv("CDCFLOW_BENCH") == "" {
		t.Skip("set CDCFLOW_BENCH=1 to measure the redis-benchmark ceiling")
	}
	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Skip("redis-benchmark not found: install redis-tools")
	}
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
	const batch = 100
	var recs []Record
	evs := make([]pipeline.Event, batch)
	for i := range batch {
		lsn := uint64(i + 1)
		id := fmt.Sprintf("o%d", i/2)
		if i%2 == 0 {
			evs[i] = orderEvent(id, "OrderRequested", lsn, map[string]any{"customer_id": "c1", "total": "10.50", "ordered_at": "2026-11-23T23:30:00Z"})
		} else {
			evs[i] = orderEvent(id, "OrderAccepted", lsn, nil)
		}
		recs = append(recs, Record{Offset: int64(i), Event: evs[i]})
	}
	s, _, _, err := v.compute(ctx, "shop.order", 0, recs, evs, make([]bool, batch))
	if err != nil {
		t.Fatal(err)
	}
	// The same writes on every call: no position checks, and an offset that
	// stays where it is (from == to), so every call passes the fence.
	if err := rdb.HSet(ctx, v.keys.offsets(0), "shop.order", "100").Err(); err != nil {
		t.Fatal(err)
	}
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port()), "-n", "3000", "-c", "4", "-q",
		"EVALSHA", applyScript.Hash(), strconv.Itoa(len(s.keys))}
	args = append(args, s.keys...)
	args = append(args, "shop.order", "100", "100", "0")
	for _, a := range s.ops {
		args = append(args, fmt.Sprint(a))
	}
	out, err := exec.CommandContext(ctx, bench, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`([0-9.]+) requests per second`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("redis-benchmark output has no rate:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("redis-benchmark EVALSHA of one %d-event batch (%d keys, %d write arguments): %.0f scripts/s = %.0f events/s ceiling",
		batch, len(s.keys), len(s.ops), rps, rps*batch)
	if strings.Contains(string(out), "ERR") {
		t.Fatalf("redis-benchmark reported errors:\n%s", out)
	}
}

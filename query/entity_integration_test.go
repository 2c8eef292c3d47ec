package query

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// commandCalls returns, from INFO commandstats, how many times Redis ran
// each of the commands.
func (f *fixture) commandCalls(names ...string) map[string]int {
	f.t.Helper()
	info, err := f.rdb.Info(f.t.Context(), "commandstats").Result()
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		for _, n := range names {
			if rest, ok := strings.CutPrefix(line, "cmdstat_"+n+":calls="); ok {
				c, _, _ := strings.Cut(rest, ",")
				out[n], _ = strconv.Atoi(c)
			}
		}
	}
	return out
}

// TestIntegrationEntityOneRoundTrip: an entity read runs one HGETALL (the
// entity) per partition, and each batch of reads one HMGET (the applied
// position) per partition; reads one after the other go alone (a batch of
// one each: no read waits for company), and no read fetches the generation
// pointer (the server caches it); the freshness it answers is each
// partition's applied position. TestIntegrationEntityBatch has concurrent
// reads.
func TestIntegrationEntityOneRoundTrip(t *testing.T) {
	const parts = 2
	f := newFixture(t, parts, Config{})
	f.loadOrders(4)
	body := f.must("/v1/views/order/entities/o01") // warms the cached pointer
	fr := body["freshness"].(map[string]any)
	ps := fr["partitions"].([]any)
	if len(ps) != parts || fr["generation"] != 1.0 {
		t.Fatalf("freshness %v; want generation 1 and %d partitions", fr, parts)
	}
	for i, p := range ps {
		if lsn := p.(map[string]any)["applied_lsn"]; lsn == "0/0" || lsn == nil {
			t.Errorf("partition %d: applied_lsn %v; want the position of its last step", i, lsn)
		}
	}
	if err := f.rdb.ConfigResetStat(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	b0, _ := f.batches()
	const reads = 50
	for i := range reads {
		f.must(fmt.Sprintf("/v1/views/order/entities/o%02d", i%4))
	}
	b1, _ := f.batches()
	calls := f.commandCalls("hmget", "hgetall", "get")
	if b1-b0 != reads || calls["hmget"] != (b1-b0)*parts || calls["hgetall"] != reads*parts {
		t.Errorf("%d entity reads one after the other went in %d batches and ran %d HMGET and %d HGETALL; want a batch each, and %d of each (one per partition and read)",
			reads, b1-b0, calls["hmget"], calls["hgetall"], reads*parts)
	}
	// The watcher reads the pointer about once a second; the reads, at
	// most once a second each way.
	if calls["get"] > 10 {
		t.Errorf("%d entity reads read the generation pointer %d times; want it cached", reads, calls["get"])
	}
}

// TestIntegrationEntitySeesSwap: after a replay swapped in a new
// generation, a plain entity read answers from it within the cache's
// bound, without any request reading the pointer for it.
func TestIntegrationEntitySeesSwap(t *testing.T) {
	f := newFixture(t, 1, Config{})
	f.loadOrders(2)
	f.must("/v1/views/order/entities/o01")
	f.generation(2)
	f.apply(2, 0, f.order("o01", "OrderRequested", requested("c9", "99.00", "2026-11-20T10:00:00Z")))
	if err := redisview.Swap(t.Context(), f.rdb, f.prefix, 1, 2); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testenv.Await(t, 10*time.Second, "an entity read of generation 2", func() (bool, error) {
		body := f.must("/v1/views/order/entities/o01")
		return body["freshness"].(map[string]any)["generation"] == 2.0 &&
			body["fields"].(map[string]any)["customer_id"] == "c9", nil
	})
	t.Logf("a plain read saw the swap after %s (bound: %s and the watcher's turn)", time.Since(start).Round(time.Millisecond), pointerMaxAge)
}

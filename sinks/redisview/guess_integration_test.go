package redisview

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// hmgetCalls returns how many HMGETs Redis ran since the statistics were
// last reset (those of scripts included), and resets them.
func hmgetCalls(t *testing.T, stats string) int {
	t.Helper()
	for _, s := range strings.Split(stats, "; ") {
		if f := strings.Fields(s); len(f) >= 2 && f[0] == "hmget" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// TestIntegrationApplyGuessesNewAggregates checks the state cache's guess
// (cache.go): after guessAfter batches whose uncached aggregates were all
// new, a batch reads nothing before its script (the script's own check is
// its only HMGET); an aggregate that exists but is not cached makes the guess
// wrong, the script refuses it, and the batch is applied from what Redis
// holds, without counting a conflict; the next batch reads again.
func TestIntegrationApplyGuessesNewAggregates(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	m := NewMetrics(newTestRegistry())
	v, err := New(Config{Prefix: srv.Prefix(t), Metrics: m}, testDefinitions(t), rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	const size = 10
	apply := func(k int) {
		t.Helper()
		from := benchStart(k, size)
		if k == 0 {
			from = -1
		}
		if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: 0, From: from, Records: benchRecords(benchBatch(0, k, size), benchStart(k, size))}); err != nil {
			t.Fatal(err)
		}
	}
	k := 0
	for ; k <= guessAfter; k++ {
		apply(k)
	}
	commandStats(t, rdb)
	apply(k)
	k++
	apply(k)
	k++
	if n := hmgetCalls(t, commandStats(t, rdb)); n != 2 {
		t.Fatalf("two batches of new orders after %d: %d HMGETs, want 2 (the scripts' checks alone)", guessAfter, n)
	}

	// The last batch requested p0o<half*(k-1)>...; take one of them out of
	// the cache, so that the next batch, which accepts it, guesses it new.
	id := "p0o" + strconv.Itoa(size/2*(k-1))
	v.cache.mu.Lock()
	delete(v.cache.parts[0].aggs["order"], id)
	v.cache.mu.Unlock()
	apply(k)
	k++
	if got := testutil.ToFloat64(m.conflicts); got != 0 {
		t.Errorf("a wrong guess counted %v conflicts, want 0", got)
	}
	ent, err := rdb.HGetAll(ctx, v.keys.item(0, "order", id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ent["status"] != "accepted" || ent["customer_id"] == "" || ent["total"] == "" {
		t.Errorf("order %s after its acceptance = %v, want status accepted and the requested fields kept", id, ent)
	}
	if _, err := rdb.ZScore(ctx, v.keys.whole(0, "pending"), id).Result(); err == nil {
		t.Errorf("order %s is still pending after its acceptance", id)
	}
	counts, err := rdb.HGetAll(ctx, v.keys.whole(0, "per_status")).Result()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for f, c := range counts {
		if strings.HasPrefix(f, "count:") {
			n, _ := strconv.Atoi(c)
			total += n
		}
	}
	if want := size / 2 * k; total != want {
		t.Errorf("per_status counts %d orders (%v), want %d", total, counts, want)
	}

	// The wrong guess turned guessing off: the next batch reads again.
	commandStats(t, rdb)
	apply(k)
	k++
	if n := hmgetCalls(t, commandStats(t, rdb)); n != 2 {
		t.Errorf("the batch after a wrong guess: %d HMGETs, want 2 (its read and the script's check)", n)
	}

	// A wrong guess that projects (a stale re-send of a request, which a
	// new aggregate would take) is refused by the script's check of the
	// guard, and the batch is applied again from what Redis holds: the
	// re-send is skipped as stale.
	id = "p0o" + strconv.Itoa(size/2*(k-2))
	v.cache.mu.Lock()
	v.cache.parts[0].fresh = guessAfter
	delete(v.cache.parts[0].aggs["order"], id)
	v.cache.mu.Unlock()
	before, err := rdb.HGetAll(ctx, v.keys.item(0, "order", id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	from := benchStart(k, size)
	resend := orderEvent(id, "OrderRequested", 1, map[string]any{"customer_id": "c1", "total": "1.00", "ordered_at": "2026-11-01T00:00:00Z"})
	if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: 0, From: from, Records: []Record{{Offset: from, Event: resend}}}); err != nil {
		t.Fatal(err)
	}
	after, err := rdb.HGetAll(ctx, v.keys.item(0, "order", id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, after) {
		t.Errorf("a stale re-send changed order %s from %v to %v", id, before, after)
	}
	if got := testutil.ToFloat64(m.conflicts); got != 0 {
		t.Errorf("a wrong guess counted %v conflicts, want 0", got)
	}
	v.cache.mu.Lock()
	_, cached := v.cache.parts[0]
	v.cache.mu.Unlock()
	if cached {
		t.Error("the partition's cache was kept after the script refused a guess")
	}
}

// TestIntegrationApplyLoadsFlushedScript checks that Apply loads the apply
// script again when Redis no longer has it (a restarted or failed-over
// server).
func TestIntegrationApplyLoadsFlushedScript(t *testing.T) {
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
	const size = 10
	for k := range 2 {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		from := benchStart(k, size)
		if k == 0 {
			from = -1
		}
		if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: 0, From: from, Records: benchRecords(benchBatch(0, k, size), benchStart(k, size))}); err != nil {
			t.Fatalf("batch %d after SCRIPT FLUSH: %v", k, err)
		}
	}
	off, err := v.Offsets(ctx, "shop.order", []int32{0})
	if err != nil {
		t.Fatal(err)
	}
	if want := benchStart(2, size); off[0] != want {
		t.Errorf("stored offset %d, want %d", off[0], want)
	}
}

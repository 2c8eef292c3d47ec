package redisview

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

func TestMain(m *testing.M) { testenv.MainVerifyNoLeaks(m) }

func testDefinitions(t testing.TB) *Definitions {
	t.Helper()
	src, err := os.ReadFile("testdata/orders.views.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// actual reads every view through the Reader in the shape model.expected
// renders. ids are every aggregate id that was ever sent.
func actual(t *testing.T, ctx context.Context, s *Snapshot, ids []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	customers := map[string]bool{}
	for _, id := range ids {
		f, err := s.Entity(ctx, "order", id)
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			out["order/"+id] = fmt.Sprint(f)
			customers[f["customer_id"]] = true
		}
		h, err := s.History(ctx, "history", id)
		if err != nil {
			t.Fatal(err)
		}
		if h != nil {
			var evIDs []string
			for _, e := range h {
				var he historyEntry
				if err := jsonUnmarshal(e, &he); err != nil {
					t.Fatal(err)
				}
				evIDs = append(evIDs, he.ID)
			}
			out["history/"+id] = strings.Join(evIDs, ",")
		}
	}
	idx, err := s.Index(ctx, "pending", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	out["pending"] = fmt.Sprint(idx)
	for c := range 5 {
		idx, err := s.Index(ctx, "by_customer", fmt.Sprintf("c%d", c), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(idx) > 0 {
			out[fmt.Sprintf("by_customer/c%d", c)] = fmt.Sprint(idx)
		}
	}
	for _, view := range []string{"per_status", "revenue_per_day"} {
		groups, err := s.Aggregate(ctx, view)
		if err != nil {
			t.Fatal(err)
		}
		sum := "total"
		if view == "revenue_per_day" {
			sum = "revenue"
		}
		for g, v := range groups {
			out[view+"/"+g] = fmt.Sprintf("%d %s", v.Count, v.Sums[sum])
		}
	}
	return out
}

func diffViews(t *testing.T, got, want map[string]string) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	n := 0
	for _, k := range slicesSorted(keys) {
		if got[k] != want[k] {
			if n++; n <= 10 {
				t.Errorf("%s = %q; want %q", k, got[k], want[k])
			}
		}
	}
	if n > 10 {
		t.Errorf("... and %d more differences", n-10)
	}
}

func slicesSorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func allIDs(recs []partRecord) []string {
	seen := map[string]bool{}
	for _, r := range recs {
		if r.ev.AggregateID != "" {
			seen[r.ev.AggregateID] = true
		}
	}
	return slicesSorted(seen)
}

// applyAll applies the records partition by partition in random batches,
// re-delivering some batches (which must be fenced), and returns the model.
func applyAll(t *testing.T, ctx context.Context, v *Views, rng *rand.Rand, recs []partRecord) *model {
	t.Helper()
	m := newModel()
	var byPart [testPartitions][]Record
	for _, r := range recs {
		m.apply(r)
		byPart[r.partition] = append(byPart[r.partition], Record{Offset: r.offset, Event: r.ev})
	}
	for p := range int32(testPartitions) {
		rs := byPart[p]
		from := int64(-1)
		for len(rs) > 0 {
			n := 1 + rng.IntN(min(len(rs), 25))
			b := Batch{Topic: "shop.order", Partition: p, From: from, Records: rs[:n]}
			if err := v.Apply(ctx, b); err != nil {
				t.Fatalf("Apply(partition %d, from %d, %d records): %v", p, from, n, err)
			}
			if rng.IntN(8) == 0 {
				// A zombie re-delivers the batch from the old offset.
				if err := v.Apply(ctx, b); !errors.Is(err, ErrFenced) {
					t.Fatalf("re-delivered Apply(partition %d, from %d) = %v; want ErrFenced", p, from, err)
				}
			}
			from = rs[n-1].Offset + 1
			rs = rs[n:]
		}
	}
	return m
}

func TestIntegrationApplyEqualsModel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		truncate bool
	}{{"snapshots", false}, {"snapshots and truncate", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			srv := testenv.Redis(t)
			rdb := srv.Client(t)
			seed := testenv.Seed(t)
			recs := orderStream(seed, 300, tc.truncate)
			defs := testDefinitions(t)
			v, err := New(Config{Prefix: srv.Prefix(t), Generation: 1}, defs, rdb)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Preflight(ctx); err != nil {
				t.Fatal(err)
			}
			m := applyAll(t, ctx, v, rand.New(rand.NewPCG(uint64(seed), 1)), recs)
			r, err := NewReader(defs, rdb, v.cfg.Prefix, testPartitions)
			if err != nil {
				t.Fatal(err)
			}
			want := m.expected()
			if len(want) < 20 {
				t.Fatalf("model has only %d entries: the workload is too small to test anything", len(want))
			}
			diffViews(t, actual(t, ctx, r.At(1), allIDs(recs)), want)

			// Re-applying the whole stream as new records (at later offsets)
			// changes nothing: every event is a duplicate or stale.
			before := dump(t, ctx, rdb, v.cfg.Prefix)
			for p := range int32(testPartitions) {
				offs, err := v.Offsets(ctx, "shop.order", []int32{p})
				if err != nil {
					t.Fatal(err)
				}
				from := offs[p]
				var rs []Record
				for _, rec := range recs {
					if rec.partition == p && rec.ev.Control == 0 && rec.ev.Epoch == 0 {
						rs = append(rs, Record{Offset: from + int64(len(rs)), Event: rec.ev})
					}
				}
				if err := v.Apply(ctx, Batch{Topic: "shop.order", Partition: p, From: from, Records: rs}); err != nil {
					t.Fatal(err)
				}
			}
			after := dump(t, ctx, rdb, v.cfg.Prefix)
			for k := range before {
				if strings.HasSuffix(k, ":offsets") {
					delete(before, k)
					delete(after, k)
				}
			}
			diffViews(t, after, before)
		})
	}
}

// dump returns every key under prefix with a rendering of its value.
func dump(t *testing.T, ctx context.Context, rdb *redis.Client, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var val any
		switch typ {
		case "hash":
			val, err = rdb.HGetAll(ctx, k).Result()
		case "zset":
			val, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "list":
			val, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "string":
			val, err = rdb.Get(ctx, k).Result()
		}
		if err != nil {
			t.Fatal(err)
		}
		out[k] = fmt.Sprint(val)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIntegrationApplyKeepsUnknownFields applies an event to an entity whose
// stored hash has a field no rule sets (written under older definitions):
// the field stays, the rule's fields change, and nothing else is written.
func TestIntegrationApplyKeepsUnknownFields(t *testing.T) {
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
	req := orderEvent("o1", "OrderRequested", 1, map[string]any{"customer_id": "c1", "total": "10.00", "ordered_at": "2026-11-23T10:00:00Z"})
	if err := v.Apply(ctx, Batch{Topic: "shop.order", From: -1, Records: benchRecords([]pipeline.Event{req}, 0)}); err != nil {
		t.Fatal(err)
	}
	key := v.keys.item(0, "order", "o1")
	if err := rdb.HSet(ctx, key, "legacy", "x").Err(); err != nil {
		t.Fatal(err)
	}
	v.cache.drop(0) // as a new process would: read the state from Redis
	acc := orderEvent("o1", "OrderAccepted", 2, nil)
	if err := v.Apply(ctx, Batch{Topic: "shop.order", From: 1, Records: benchRecords([]pipeline.Event{acc}, 1)}); err != nil {
		t.Fatal(err)
	}
	got, err := rdb.HGetAll(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["legacy"] != "x" || got["status"] != "accepted" || got["customer_id"] != "c1" || got["updated_at"] != acc.Time.Format(time.RFC3339Nano) {
		t.Errorf("entity after the update = %v; want legacy x kept, status accepted, customer_id c1, updated_at %s", got, acc.Time.Format(time.RFC3339Nano))
	}
}

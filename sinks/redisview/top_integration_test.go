package redisview

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// bruteTop is Top computed from Aggregate: every group, sorted.
func bruteTop(t *testing.T, ctx context.Context, s *Snapshot, view, by string, limit int) []string {
	t.Helper()
	all, err := s.Aggregate(ctx, view)
	if err != nil {
		t.Fatal(err)
	}
	value := func(g Group) string {
		if by == "count" {
			return strconv.FormatInt(g.Count, 10)
		}
		return g.Sums[by].String()
	}
	num := func(g Group) float64 {
		f, _ := strconv.ParseFloat(value(g), 64)
		return f
	}
	keys := slices.SortedFunc(maps.Keys(all), func(a, b string) int {
		return cmp.Or(cmp.Compare(num(all[b]), num(all[a])), strings.Compare(a, b))
	})
	var out []string
	for _, k := range keys[:min(limit, len(keys))] {
		g := all[k]
		out = append(out, fmt.Sprintf("%s=%d/%v", k, g.Count, g.Sums))
	}
	return out
}

func topStrings(t *testing.T, ctx context.Context, s *Snapshot, view, by string, limit int) []string {
	t.Helper()
	top, err := s.Top(ctx, view, by, limit)
	if err != nil {
		t.Fatalf("Top(%s, %s, %d): %v", view, by, limit, err)
	}
	var out []string
	for _, g := range top {
		out = append(out, fmt.Sprintf("%s=%d/%v", g.Key, g.Count, g.Sums))
	}
	return out
}

// checkTops compares Top with the brute-force merge for every order and
// several limits.
func checkTops(t *testing.T, ctx context.Context, s *Snapshot, views map[string][]string) {
	t.Helper()
	for view, orders := range views {
		for _, by := range orders {
			for _, limit := range []int{1, 2, 3, 5, 17, 40, 1000} {
				got, want := topStrings(t, ctx, s, view, by, limit), bruteTop(t, ctx, s, view, by, limit)
				if !slices.Equal(got, want) {
					t.Errorf("Top(%s, by %s, %d) =\n %v\nwant\n %v", view, by, limit, got, want)
				}
			}
		}
	}
}

// TestIntegrationTopEqualsMerge applies the seeded order stream and checks
// that the sorted sets kept in the atomic steps give the same top-N as a
// merge of the hashes, by count and by sum, on Redis and on a three-master
// Redis Cluster.
func TestIntegrationTopEqualsMerge(t *testing.T) {
	for _, tc := range []struct {
		name string
		rdb  func(t *testing.T) (redis.UniversalClient, string)
	}{
		{"redis", func(t *testing.T) (redis.UniversalClient, string) {
			srv := testenv.Redis(t)
			return srv.Client(t), srv.Prefix(t)
		}},
		{"cluster", func(t *testing.T) (redis.UniversalClient, string) { return newCluster(t), "top:" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			rdb, prefix := tc.rdb(t)
			seed := testenv.Seed(t)
			defs := testDefinitions(t)
			v, err := New(Config{Prefix: prefix}, defs, rdb)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Preflight(ctx); err != nil {
				t.Fatal(err)
			}
			applyAll(t, ctx, v, rand.New(rand.NewPCG(uint64(seed), 1)), orderStream(seed, 400, false))
			r, err := NewReader(defs, rdb, prefix, testPartitions)
			if err != nil {
				t.Fatal(err)
			}
			s := r.At(1)
			statuses, err := s.Aggregate(ctx, "per_status")
			if err != nil {
				t.Fatal(err)
			}
			if len(statuses) < 3 {
				t.Fatalf("only %d statuses: the workload is too small", len(statuses))
			}
			checkTops(t, ctx, s, map[string][]string{"per_status": {"count", "total"}, "revenue_per_day": {"count", "revenue"}})
			if _, err := s.Top(ctx, "per_status", "revenue", 3); err == nil || !strings.Contains(err.Error(), "count, total") {
				t.Errorf("Top by an unknown sum = %v; want an error listing count, total", err)
			}
		})
	}
}

// TestIntegrationTopThreshold writes random per-partition counts and sums
// (negative, zero, many ties) straight into an aggregate view's hashes and
// sorted sets, as the apply script keeps them, over several partitions and
// enough groups for several pages, and checks Top against the brute-force
// merge: the threshold algorithm's stopping rule, ties and negative sums.
func TestIntegrationTopThreshold(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb := srv.Client(t)
	defs := testDefinitions(t)
	seed := testenv.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 3))
	for round := range 9 {
		prefix := fmt.Sprintf("%sr%d:", srv.Prefix(t), round)
		parts := []int{1, 2, 5}[round%3]
		k := keys{prefix: prefix, gen: 1}
		groups := 1 + rng.IntN(300)
		spread := []int{2, 10, 1000}[round/3] // small spreads make ties
		pipe := rdb.Pipeline()
		for g := range groups {
			key := fmt.Sprintf("s%03d", g)
			for p := range int32(parts) {
				if rng.IntN(3) == 0 {
					continue // absent from this partition
				}
				count := 1 + rng.IntN(spread)
				sum := rng.IntN(2*spread+1) - spread
				pipe.HSet(ctx, k.whole(p, "per_status"), "count:"+key, count, "sum:total:"+key, sum)
				pipe.ZAdd(ctx, k.top(p, "per_status", ""), redis.Z{Score: float64(count), Member: key})
				pipe.ZAdd(ctx, k.top(p, "per_status", "total"), redis.Z{Score: float64(sum), Member: key})
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(defs, rdb, prefix, parts)
		if err != nil {
			t.Fatal(err)
		}
		checkTops(t, ctx, r.At(1), map[string][]string{"per_status": {"count", "total"}})
	}
}

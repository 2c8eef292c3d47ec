package redisview

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// newCluster starts a three-master Redis Cluster (testenv.NewRedisCluster)
// and returns a cluster client of it.
func newCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	return testenv.NewRedisCluster(t, 3).Client(t)
}

// TestIntegrationCluster applies the seeded order stream to a three-master
// Redis Cluster: every atomic step stays in one slot (no CROSSSLOT error),
// the views equal the model, and a generation is deleted on every master.
func TestIntegrationCluster(t *testing.T) {
	ctx := t.Context()
	c := newCluster(t)
	seed := testenv.Seed(t)
	recs := orderStream(seed, 300, true)
	defs := testDefinitions(t)
	v, err := New(Config{Prefix: "cl:"}, defs, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	m := applyAll(t, ctx, v, rand.New(rand.NewPCG(uint64(seed), 1)), recs)
	r, err := NewReader(defs, c, "cl:", testPartitions)
	if err != nil {
		t.Fatal(err)
	}
	diffViews(t, actual(t, ctx, r.At(1), allIDs(recs)), m.expected())

	// The partitions' keys are spread over the masters.
	slots := map[int64]bool{}
	for p := range int32(testPartitions) {
		s, err := c.ClusterKeySlot(ctx, v.keys.offsets(p)).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots[s] = true
	}
	if len(slots) != testPartitions {
		t.Errorf("offsets keys of %d partitions are in %d slots; want one each", testPartitions, len(slots))
	}

	if err := Swap(ctx, c, "cl:", 0, 2); err != nil {
		t.Fatal(err)
	}
	n, err := DeleteGeneration(ctx, c, "cl:", 1, 50, 0)
	if err != nil || n == 0 {
		t.Fatalf("DeleteGeneration(1) on the cluster = %d, %v; want keys deleted", n, err)
	}
	var left atomic.Int64 // ForEachMaster runs on the masters concurrently
	err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		ks, err := node.Keys(ctx, "cl:*:g1:*").Result()
		left.Add(int64(len(ks)))
		return err
	})
	if err != nil || left.Load() != 0 {
		t.Errorf("after DeleteGeneration(1): %d keys left, %v; want none", left.Load(), err)
	}
}

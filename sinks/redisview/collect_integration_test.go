package redisview

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationCollectGenerations: the collector deletes every generation
// but the current one, the next one and one a replay holds in its grace
// period; once the grace key expires (the replay died), that one goes too.
func TestIntegrationCollectGenerations(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		t.Run(map[bool]string{false: "single", true: "cluster"}[cluster], func(t *testing.T) {
			ctx := t.Context()
			var rdb redis.UniversalClient
			var prefix string
			if cluster {
				c := testenv.NewRedisCluster(t, 3)
				rdb, prefix = c.Client(t), "collect:"
			} else {
				srv := testenv.Redis(t)
				rdb, prefix = srv.Client(t), srv.Prefix(t)
			}
			// Generations 1 to 5, three partitions each, with a view key.
			for g := int64(1); g <= 5; g++ {
				k := keys{prefix: prefix, gen: g}
				for p := range int32(3) {
					if err := rdb.HSet(ctx, k.offsets(p), "shop.order", strconv.Itoa(int(g))).Err(); err != nil {
						t.Fatal(err)
					}
					if err := rdb.HSet(ctx, k.item(p, "order", "o"+strconv.Itoa(int(p))), "status", "C").Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := Swap(ctx, rdb, prefix, 0, 3); err != nil {
				t.Fatal(err)
			}
			// A replay in its grace period holds generation 2.
			if err := rdb.Set(ctx, graceKey(prefix, 2), 3, 2*time.Second).Err(); err != nil {
				t.Fatal(err)
			}
			gens, err := Generations(ctx, rdb, prefix)
			if err != nil || !slices.Equal(gens, []int64{1, 2, 3, 4, 5}) {
				t.Fatalf("Generations = %v, %v; want [1 2 3 4 5]", gens, err)
			}
			deleted, err := CollectGenerations(ctx, rdb, prefix)
			if err != nil || !slices.Equal(deleted, []int64{1, 5}) {
				t.Fatalf("CollectGenerations = %v, %v; want [1 5] deleted", deleted, err)
			}
			if gens, _ := Generations(ctx, rdb, prefix); !slices.Equal(gens, []int64{2, 3, 4}) {
				t.Fatalf("left %v; want [2 3 4]", gens)
			}
			// The replay died: its hold expires, and generation 2 goes.
			testenv.Await(t, 10*time.Second, "the grace key to expire", func() (bool, error) {
				n, err := rdb.Exists(ctx, graceKey(prefix, 2)).Result()
				return n == 0, err
			})
			if deleted, err := CollectGenerations(ctx, rdb, prefix); err != nil || !slices.Equal(deleted, []int64{2}) {
				t.Fatalf("CollectGenerations after the grace = %v, %v; want [2] deleted", deleted, err)
			}
			if gens, _ := Generations(ctx, rdb, prefix); !slices.Equal(gens, []int64{3, 4}) {
				t.Fatalf("left %v; want [3 4] (current and next)", gens)
			}
		})
	}
}

// TestIntegrationDeleteGenerationOffsetsLast: a deletion interrupted at any
// slice leaves a generation Generations still finds (its offsets keys go
// last), so that CollectGenerations finishes it instead of leaving keys
// nobody can find.
func TestIntegrationDeleteGenerationOffsetsLast(t *testing.T) {
	ctx := t.Context()
	srv := testenv.Redis(t)
	rdb, prefix := srv.Client(t), srv.Prefix(t)
	k := keys{prefix: prefix, gen: 1}
	for p := range int32(3) {
		if err := rdb.HSet(ctx, k.offsets(p), "shop.order", "1").Err(); err != nil {
			t.Fatal(err)
		}
		for i := range 400 {
			if err := rdb.HSet(ctx, k.item(p, "order", "o"+strconv.Itoa(i)), "status", "C").Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := Swap(ctx, rdb, prefix, 0, 2); err != nil {
		t.Fatal(err)
	}
	rounds := 0
	total, err := deleteGeneration(ctx, rdb, prefix, 1, 50, 0, func(deleted int64) {
		rounds++
		if deleted == 1203 {
			return // the last slice: the offsets keys themselves
		}
		// Killed here, the generation must still be found.
		if gens, err := Generations(ctx, rdb, prefix); err != nil || len(gens) != 1 || gens[0] != 1 {
			t.Errorf("after %d keys deleted: Generations = %v, %v; want [1]", deleted, gens, err)
		}
	})
	if err != nil || total != 1203 {
		t.Fatalf("deleteGeneration = %d, %v; want 1203 keys", total, err)
	}
	if rounds < 10 {
		t.Fatalf("%d slices; want the deletion in many slices", rounds)
	}
	if gens, err := Generations(ctx, rdb, prefix); err != nil || len(gens) != 0 {
		t.Errorf("after the deletion: Generations = %v, %v; want none", gens, err)
	}
}

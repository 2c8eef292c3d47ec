package redisview

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Generations left behind
//
// A replay builds generation current+1, swaps the pointer to it, and after
// its grace period deletes the old one. A replay killed during the grace
// period never deletes it, and the next replay deletes only its own
// predecessor, so the dead generation would stay for good. CollectGenerations
// finds every generation under a prefix by its offsets keys and deletes those
// nobody can use: all but the current one, the next one (a replay builds it,
// or the next replay resumes it) and one a replay still holds in its grace
// period (Replay sets a grace key that expires with the period, so a replay
// killed then releases it when the period would have ended).

// graceKey is the key a replay holds, for its grace period, on the
// generation it swapped out.
func graceKey(prefix string, gen int64) string {
	return prefix + "grace:g" + strconv.FormatInt(gen, 10)
}

// Generations returns the generations that hold keys under prefix, found by
// their partitions' offsets keys, in increasing order. On a cluster it walks
// every master. It blocks on Redis.
func Generations(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]int64, error) {
	pattern := escapeGlob(prefix) + "{p*}:g*:offsets"
	var (
		mu   sync.Mutex
		gens = map[int64]bool{}
	)
	one := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			if g, ok := generationOf(prefix, it.Val()); ok {
				mu.Lock()
				gens[g] = true
				mu.Unlock()
			}
		}
		return it.Err()
	}
	if err := forEachMaster(ctx, rdb, one); err != nil {
		return nil, fmt.Errorf("list generations under %q: %w", prefix, err)
	}
	out := make([]int64, 0, len(gens))
	for g := range gens {
		out = append(out, g)
	}
	slices.Sort(out)
	return out, nil
}

// generationOf parses the generation out of an offsets key
// "<prefix>{pN}:gG:offsets".
func generationOf(prefix, key string) (int64, bool) {
	rest, ok := strings.CutPrefix(key, prefix+"{p")
	if !ok {
		return 0, false
	}
	_, rest, ok = strings.Cut(rest, "}:g")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, ":offsets")
	if !ok {
		return 0, false
	}
	g, err := strconv.ParseInt(num, 10, 64)
	return g, err == nil && g > 0
}

// CollectGenerations deletes every generation under prefix except the
// current one, the next one and those a replay holds in its grace period,
// and returns the generations it deleted. It deletes without blocking Redis
// (DeleteGeneration). Call it before a replay and when a materializer starts.
func CollectGenerations(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]int64, error) {
	cur, err := CurrentGeneration(ctx, rdb, prefix)
	if err != nil {
		return nil, err
	}
	gens, err := Generations(ctx, rdb, prefix)
	if err != nil {
		return nil, err
	}
	var deleted []int64
	for _, g := range gens {
		if g == cur || g == cur+1 {
			continue
		}
		held, err := rdb.Exists(ctx, graceKey(prefix, g)).Result()
		if err != nil {
			return deleted, fmt.Errorf("collect generation %d: %w", g, err)
		}
		if held > 0 {
			continue
		}
		if _, err := DeleteGeneration(ctx, rdb, prefix, g, 500, time.Millisecond); err != nil {
			if errors.Is(err, context.Canceled) {
				return deleted, err
			}
			return deleted, fmt.Errorf("collect generation %d: %w", g, err)
		}
		deleted = append(deleted, g)
	}
	return deleted, nil
}

package redisview

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrSwapped is returned by Swap when the pointer is not at the generation
// the caller expected: another replay swapped first.
var ErrSwapped = errors.New("generation pointer moved")

var swapScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then cur = '' end
if cur ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[2])
return 'OK'`)

// CurrentGeneration returns the generation readers use under prefix, or 0 when
// no generation was ever swapped in. It blocks on Redis.
func CurrentGeneration(ctx context.Context, rdb redis.UniversalClient, prefix string) (int64, error) {
	s, err := rdb.Get(ctx, keys{prefix: prefix}.pointer()).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read generation pointer: %w", err)
	}
	g, err := strconv.ParseInt(s, 10, 64)
	if err != nil || g < 1 {
		return 0, fmt.Errorf("read generation pointer: %q is not a generation", s)
	}
	return g, nil
}

// Swap points readers at generation to in one atomic step, provided the
// pointer is still at from (0: no pointer yet); otherwise it returns an error
// wrapping ErrSwapped and changes nothing. Readers that resolved the old
// generation keep reading it until they resolve again, so delete the old
// generation only after a grace period (DeleteGeneration).
func Swap(ctx context.Context, rdb redis.UniversalClient, prefix string, from, to int64) error {
	want := ""
	if from > 0 {
		want = strconv.FormatInt(from, 10)
	}
	res, err := swapScript.Run(ctx, rdb, []string{keys{prefix: prefix}.pointer()}, want, strconv.FormatInt(to, 10)).Text()
	if err != nil {
		return fmt.Errorf("swap generation %d -> %d: %w", from, to, err)
	}
	if res != "OK" {
		return fmt.Errorf("swap generation %d -> %d: pointer is %q: %w", from, to, res, ErrSwapped)
	}
	return nil
}

// DeleteGeneration removes every key of generation gen under prefix without
// blocking Redis: SCAN in slices of slice keys (default 500) and UNLINK each
// slice (the memory is freed in the background), pausing pause between slices
// so that live traffic keeps its latency. On a cluster it walks every master.
// It refuses to delete the generation the pointer names. It blocks until done
// or ctx ends and returns how many keys it unlinked.
//
// The partitions' offsets keys go last, each master's after all its other
// keys: Generations finds a generation by them, so a deletion interrupted
// (the process killed) leaves a generation CollectGenerations still finds
// and finishes, never keys nobody can find.
func DeleteGeneration(ctx context.Context, rdb redis.UniversalClient, prefix string, gen int64, slice int, pause time.Duration) (int64, error) {
	return deleteGeneration(ctx, rdb, prefix, gen, slice, pause, nil)
}

// deleteGeneration is DeleteGeneration calling onSlice, when set, with the
// number of keys unlinked so far after each slice (from the masters'
// goroutines, one at a time).
func deleteGeneration(ctx context.Context, rdb redis.UniversalClient, prefix string, gen int64, slice int, pause time.Duration, onSlice func(int64)) (int64, error) {
	cur, err := CurrentGeneration(ctx, rdb, prefix)
	if err != nil {
		return 0, err
	}
	if cur == gen {
		return 0, fmt.Errorf("delete generation %d: it is the current one", gen)
	}
	if slice <= 0 {
		slice = 500
	}
	pattern := genPattern(prefix, gen)
	var (
		total   atomic.Int64 // ForEachMaster walks the masters concurrently
		sliceMu sync.Mutex
	)
	unlink := func(ctx context.Context, c *redis.Client, ks []string) error {
		if len(ks) == 0 {
			return nil
		}
		// Unlink key by key: on a cluster keys of different slots may not
		// go in one command.
		pipe := c.Pipeline()
		for _, k := range ks {
			pipe.Unlink(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("unlink generation %d: %w", gen, err)
		}
		n := total.Add(int64(len(ks)))
		if onSlice != nil {
			sliceMu.Lock()
			onSlice(n)
			sliceMu.Unlock()
		}
		return nil
	}
	one := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		var offsets []string // one per partition of this master: kept for last
		for {
			ks, next, err := c.Scan(ctx, cursor, pattern, int64(slice)).Result()
			if err != nil {
				return fmt.Errorf("scan generation %d: %w", gen, err)
			}
			rest := ks[:0]
			for _, k := range ks {
				if g, ok := generationOf(prefix, k); ok && g == gen {
					offsets = append(offsets, k)
				} else {
					rest = append(rest, k)
				}
			}
			if err := unlink(ctx, c, rest); err != nil {
				return err
			}
			if next == 0 {
				return unlink(ctx, c, offsets)
			}
			cursor = next
			// Pacing, not a retry (nothing failed): a plain pause between
			// slices, so backpressure.Backoff, which logs retries, does
			// not fit.
			if pause > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(pause):
				}
			}
		}
	}
	if err := forEachMaster(ctx, rdb, one); err != nil {
		return total.Load(), fmt.Errorf("delete generation %d: %w", gen, err)
	}
	return total.Load(), nil
}

// forEachMaster calls fn with the one node of a single-node client, or with
// every master of a cluster client, concurrently (fn must be safe for
// that). It returns the first error.
func forEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	default:
		return fmt.Errorf("unsupported client %T", rdb)
	}
}

package redisview

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReplayConfig configures Replay.
type ReplayConfig struct {
	// Consumer configures the consumer of the rebuild. Its Group and
	// InstanceID are not used: a replay reads every partition directly,
	// without a consumer group, so a replay rerun after a crash starts at
	// once instead of waiting for the dead one's group session to expire.
	// StopAtEnd is forced on and DeadLetterTopic off, so a poison record
	// stops the replay with an error naming it.
	Consumer ConsumerConfig
	// Views configures the new generation's Views; Generation is set by
	// Replay.
	Views Config
	// Fresh deletes what an interrupted earlier replay left in the new
	// generation instead of resuming from its stored offsets (needed when the
	// view definitions changed since).
	Fresh bool
	// CatchUp is how few records the last round may apply before the swap
	// (default 1000): Replay runs rounds to the current end offsets until
	// one applies no more than this, so the live tail left for the live
	// materializers after the swap is short.
	CatchUp int64
	// Grace is how long readers may keep using the old generation after the
	// swap before Replay deletes it; 0 keeps it (delete it later with
	// DeleteGeneration).
	Grace time.Duration
	// OnSwap, when set, is called once the pointer names the new
	// generation (it is live from then on), with the new and the old
	// generation, before the grace period.
	OnSwap func(live, old int64)
	// OnDelete, when set, is called while the old generation is deleted
	// after the grace period, with the number of its keys unlinked so far,
	// after each slice.
	OnDelete func(deleted int64)
}

// Replay rebuilds the views into the generation after the current one from
// the beginning of the topics while the current one keeps serving, swaps the
// pointer to it in one atomic step, and, after Grace, deletes the old one.
// Live consumers running with FollowPointer then stop with
// ErrGenerationChanged and are restarted on the new generation, where they
// resume from the offsets the replay stored. Replay blocks until done and
// returns the new generation.
func Replay(ctx context.Context, cfg ReplayConfig, defs *Definitions, rdb redis.UniversalClient) (int64, error) {
	prefix := cfg.Views.Prefix
	cur, err := CurrentGeneration(ctx, rdb, prefix)
	if err != nil {
		return 0, err
	}
	next := cur + 1
	// What a replay killed earlier left behind (e.g. in its grace period).
	if _, err := CollectGenerations(ctx, rdb, prefix); err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	if cfg.Fresh {
		if _, err := DeleteGeneration(ctx, rdb, prefix, next, 0, 0); err != nil {
			return 0, fmt.Errorf("replay: clear generation %d: %w", next, err)
		}
	}
	vc := cfg.Views
	vc.Generation = next
	vc.OnPoison = nil
	v, err := New(vc, defs, rdb)
	if err != nil {
		return 0, err
	}
	if err := v.Preflight(ctx); err != nil {
		return 0, err
	}
	cc := cfg.Consumer
	cc.Group, cc.InstanceID = "", ""
	cc.StopAtEnd = true
	cc.FollowPointer = false
	cc.DeadLetterTopic = ""
	catchUp := cfg.CatchUp
	if catchUp <= 0 {
		catchUp = 1000
	}
	for round := 1; ; round++ {
		var last Progress
		progress := cc.Progress
		rc := cc
		rc.Progress = func(p Progress) {
			p.Round = round
			last = p
			if progress != nil {
				progress(p)
			}
		}
		c, err := NewConsumer(rc, v)
		if err != nil {
			return 0, err
		}
		if err := c.Run(ctx); err != nil {
			return 0, fmt.Errorf("replay into generation %d: %w", next, err)
		}
		if last.Total <= catchUp || round >= 10 {
			break
		}
	}
	if cfg.Grace > 0 && cur > 0 {
		// Held before the swap, so that no collector takes the old
		// generation while readers may still use it; it expires with the
		// grace period if this replay dies.
		if err := rdb.Set(ctx, graceKey(prefix, cur), next, cfg.Grace).Err(); err != nil {
			return 0, fmt.Errorf("replay: hold generation %d for its grace period: %w", cur, err)
		}
	}
	if err := Swap(ctx, rdb, prefix, cur, next); err != nil {
		return 0, err
	}
	if cfg.OnSwap != nil {
		cfg.OnSwap(next, cur)
	}
	if cfg.Grace > 0 && cur > 0 {
		select {
		case <-ctx.Done():
			return next, fmt.Errorf("replay: generation %d swapped in; old generation %d not deleted: %w", next, cur, ctx.Err())
		case <-time.After(cfg.Grace):
		}
		if _, err := deleteGeneration(ctx, rdb, prefix, cur, 500, time.Millisecond, cfg.OnDelete); err != nil {
			return next, fmt.Errorf("replay: generation %d swapped in: %w", next, err)
		}
		if err := rdb.Del(ctx, graceKey(prefix, cur)).Err(); err != nil {
			return next, fmt.Errorf("replay: release generation %d: %w", cur, err)
		}
	}
	return next, nil
}

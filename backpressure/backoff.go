package backpressure

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Default Backoff settings.
const (
	DefaultInitialBackoff = 100 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// Backoff computes capped exponential delays with full jitter: the n-th delay
// (from 0) is uniformly random in [0, min(Max, Initial·2ⁿ)). Full jitter
// spreads the retries of many clients that failed together, which a fixed
// or merely exponential schedule would keep in lockstep.
//
// The zero value is ready to use with the defaults. A Backoff is not safe for
// concurrent use: each retry loop owns its own.
type Backoff struct {
	// Initial is the cap of the first delay. Default DefaultInitialBackoff (100 ms).
	Initial time.Duration
	// Max caps every delay. Default DefaultMaxBackoff (30 s).
	Max time.Duration
	// Rand returns a float in [0, 1); nil means math/rand/v2's Float64.
	// Tests set it to make delays deterministic.
	Rand func() float64

	// Op names the operation in the cdcflow_backpressure_retries_total
	// metric counted by Retry; empty means "unnamed".
	Op string
	// Metrics, if not nil, counts the retries made by Retry.
	Metrics *Metrics

	attempt int
}

// Next returns the delay before the next attempt and moves the schedule on.
func (b *Backoff) Next() time.Duration {
	initial, maxd := b.Initial, b.Max
	if initial <= 0 {
		initial = DefaultInitialBackoff
	}
	if maxd <= 0 {
		maxd = DefaultMaxBackoff
	}
	ceiling := maxd
	// Count attempts only while below the cap, so the shift cannot overflow:
	// once capped, the attempt number no longer matters.
	if d := initial << b.attempt; d>>b.attempt == initial && d < maxd {
		ceiling = d
		b.attempt++
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration(r() * float64(ceiling))
}

// Reset starts the schedule again from Initial, after a success.
func (b *Backoff) Reset() {
	b.attempt = 0
}

// Retry calls fn until it succeeds, retrying forever, after a delay from b,
// while isRetryable says its error is transient. It returns nil on success,
// fn's error as soon as isRetryable rejects it, and the context's error
// (joined with the last error of fn) when ctx is done. fn gets ctx. Retry
// resets b after a success and counts each retry in b.Metrics under b.Op.
// Delays use the runtime clock (time.NewTimer), which testing/synctest fakes.
func Retry(ctx context.Context, b *Backoff, isRetryable func(error) bool, fn func(context.Context) error) error {
	for {
		err := fn(ctx)
		if err == nil {
			b.Reset()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("retry %s: %w (last error: %w)", b.opName(), context.Cause(ctx), err)
		}
		if !isRetryable(err) {
			return err
		}
		t := time.NewTimer(b.Next())
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("retry %s: %w (last error: %w)", b.opName(), context.Cause(ctx), err)
		case <-t.C:
		}
		b.Metrics.incRetries(b.opName())
	}
}

func (b *Backoff) opName() string {
	if b.Op == "" {
		return "unnamed"
	}
	return b.Op
}

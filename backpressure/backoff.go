package backpressure

import (
	"context"
	"fmt"
	"log/slog"
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
// or merely exponential schedule would keep in lockstep. Floor narrows the
// jitter; Floor 1 with Initial = Max is a fixed pause.
//
// The zero value is ready to use with the defaults. A Backoff is not safe for
// concurrent use: each retry loop owns its own.
type Backoff struct {
	// Initial is the cap of the first delay. Default DefaultInitialBackoff (100 ms).
	Initial time.Duration
	// Max caps every delay. Default DefaultMaxBackoff (30 s).
	Max time.Duration
	// Floor is the share of each cap that is always waited, in [0, 1]: the
	// n-th delay is uniform in [Floor·cap, cap). 0 (the default) is full
	// jitter; 0.5 waits at least half the cap; 1 means no jitter, each delay
	// is the cap itself (for polling a condition, where nothing needs
	// spreading). Values outside [0, 1] are clamped.
	Floor float64
	// Rand returns a float in [0, 1); nil means math/rand/v2's Float64.
	// Tests set it to make delays deterministic.
	Rand func() float64
	// Log, if not nil, gets one Warn record per retry made by Wait or Retry,
	// before its pause: "retrying after an error" with op, attempt (the
	// number of the attempt that failed, from 1 since the last Reset),
	// retry_in (the pause) and err. nil logs nothing.
	Log *slog.Logger

	// Op names the operation in the cdcflow_backpressure_retries_total
	// metric counted by Retry; empty means "unnamed".
	Op string
	// Metrics, if not nil, counts the retries made by Retry.
	Metrics *Metrics

	attempt int // doublings so far, counted only below the cap
	retries int // Next calls since the last Reset
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
	b.retries++
	floor := min(max(b.Floor, 0), 1)
	if floor == 1 {
		return ceiling
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration((floor + (1-floor)*r()) * float64(ceiling))
}

// Reset starts the schedule again from Initial, after a success.
func (b *Backoff) Reset() {
	b.attempt = 0
	b.retries = 0
}

// Wait pauses before the next attempt of a retry loop: it takes the delay
// from Next, logs the retry on b.Log (err is the error that made the attempt
// fail; nil when polling a condition), waits on a timer and counts the retry
// in b.Metrics under b.Op. It returns nil after the pause, or
// context.Cause(ctx), unwrapped, as soon as ctx is done. Wait is the pause
// of Retry, for loops that do not fit Retry's shape.
// The timer is the runtime clock's, which testing/synctest fakes.
func (b *Backoff) Wait(ctx context.Context, err error) error {
	d := b.Next()
	if b.Log != nil {
		b.Log.Warn("retrying after an error", "op", b.opName(), "attempt", b.retries, "retry_in", d, "err", err)
	}
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return context.Cause(ctx)
	case <-t.C:
	}
	b.Metrics.incRetries(b.opName())
	return nil
}

// Retry calls fn until it succeeds, retrying forever, after a delay from b,
// while isRetryable says its error is transient. It returns nil on success,
// fn's error as soon as isRetryable rejects it, and the context's error
// (joined with the last error of fn) when ctx is done. fn gets ctx. Retry
// resets b after a success; each retry pauses in b.Wait, so it is logged on
// b.Log and counted in b.Metrics under b.Op.
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
		if cause := b.Wait(ctx, err); cause != nil {
			return fmt.Errorf("retry %s: %w (last error: %w)", b.opName(), cause, err)
		}
	}
}

func (b *Backoff) opName() string {
	if b.Op == "" {
		return "unnamed"
	}
	return b.Op
}

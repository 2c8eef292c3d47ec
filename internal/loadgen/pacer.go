package loadgen

import (
	"context"
	"sync"
	"time"
)

// pacer hands out the permissions to run one more transaction that the
// workers of a generator share: at most a count of them, at most at a rate.
type pacer struct {
	mu      sync.Mutex
	started int64 // transactions handed to workers
	nextAt  time.Time
}

// reset starts counting and pacing again.
func (p *pacer) reset() {
	p.mu.Lock()
	p.started, p.nextAt = 0, time.Time{}
	p.mu.Unlock()
}

// ticket asks for permission to run one more transaction: false once count
// transactions (0: no limit) were handed out or the deadline has come. With
// a rate (transactions per second; 0: none) it waits for the next free slot,
// shared by all workers.
func (p *pacer) ticket(ctx context.Context, deadline time.Time, count int64, rate float64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	p.mu.Lock()
	now := time.Now()
	if (count > 0 && p.started >= count) || (!deadline.IsZero() && !now.Before(deadline)) {
		p.mu.Unlock()
		return false, nil
	}
	at := now
	if rate > 0 {
		if p.nextAt.After(now) {
			at = p.nextAt
		}
		if !deadline.IsZero() && !at.Before(deadline) {
			p.mu.Unlock()
			return false, nil
		}
		p.nextAt = at.Add(time.Duration(float64(time.Second) / rate))
	}
	p.started++
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
		}
	}
	return true, nil
}

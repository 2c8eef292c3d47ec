package backpressure_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cdcflow/cdcflow/backpressure"
)

// The queue sits between capture and the sink: Put blocks when the budget
// is used up, Take hands the sink a batch.
func ExampleQueue() {
	ctx := context.Background()
	q, err := backpressure.NewQueue[string](backpressure.QueueConfig{MaxBytes: 1 << 20, MaxRecords: 1000})
	if err != nil {
		panic(err)
	}
	for _, ev := range []string{"OrderRequested", "OrderPromised", "OrderAccepted"} {
		if err := q.Put(ctx, ev, int64(len(ev))); err != nil {
			panic(err)
		}
	}
	q.Close()
	batch, size, err := q.Take(ctx, nil, 2, 0)
	fmt.Println(batch, size, err)
	batch, size, err = q.Take(ctx, nil, 2, 0)
	fmt.Println(batch, size, err)
	_, _, err = q.Take(ctx, nil, 2, 0)
	fmt.Println(errors.Is(err, backpressure.ErrClosed))
	// Output:
	// [OrderRequested OrderPromised] 27 <nil>
	// [OrderAccepted] 13 <nil>
	// true
}

// Acknowledgements arrive out of order; the watermark confirms a position
// only when everything before it is done.
func ExampleWatermark() {
	w := backpressure.NewWatermark(0x1000, nil) // the slot's confirmed_flush_lsn
	tx1, _ := w.Track(0x1100)                   // commit end LSN of transaction 1
	tx2, _ := w.Track(0x1200)                   // of transaction 2
	_ = w.Done(tx2)
	fmt.Printf("%X\n", w.Confirmed())
	_ = w.Done(tx1)
	fmt.Printf("%X\n", w.Confirmed())
	_ = w.Heartbeat(0x1300) // nothing in flight: a keepalive moves it on
	fmt.Printf("%X\n", w.Confirmed())
	// Output:
	// 1000
	// 1200
	// 1300
}

var errUnavailable = errors.New("broker unavailable")

// Retry retries transient errors with capped, jittered exponential backoff.
func ExampleRetry() {
	attempts := 0
	b := &backpressure.Backoff{Initial: 1, Max: 10, Op: "publish"} // nanoseconds, to keep the example fast
	err := backpressure.Retry(context.Background(), b,
		func(err error) bool { return errors.Is(err, errUnavailable) },
		func(context.Context) error {
			attempts++
			if attempts < 3 {
				return errUnavailable
			}
			return nil
		})
	fmt.Println(attempts, err)
	// Output:
	// 3 <nil>
}

// Wait paces a loop that does not fit Retry's shape: here polling a
// condition with a fixed pause (Floor 1: no jitter).
func ExampleBackoff_Wait() {
	ctx := context.Background()
	b := &backpressure.Backoff{Initial: 1, Max: 1, Floor: 1} // nanoseconds, to keep the example fast
	polls := 0
	for ready := false; !ready; {
		polls++
		if ready = polls == 4; !ready {
			if err := b.Wait(ctx, nil); err != nil {
				fmt.Println(err)
				return
			}
		}
	}
	fmt.Println(polls)
	// Output:
	// 4
}

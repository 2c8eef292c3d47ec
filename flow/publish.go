package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// publish takes batches from the queue and hands them to Kafka (at-least-once
// mode); each acknowledgement completes its watermark ticket, and the
// watermark confirms nothing past a ticket still pending, whatever order the
// acknowledgements come in.
func (f *Flow) publish(ctx context.Context) error {
	// A failed batch cancels pctx, so that the failure stops the flow even
	// while the queue is empty.
	pctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	var batches []*batch
	for {
		var err error
		batches, _, err = f.queue.Take(pctx, batches[:0], 64, 0)
		if errors.Is(err, backpressure.ErrClosed) {
			return nil
		}
		if err != nil {
			if ctx.Err() == nil {
				return context.Cause(pctx)
			}
			return err
		}
		for _, b := range batches {
			if pctx.Err() != nil {
				return context.Cause(pctx)
			}
			t := b.ticket
			n := int64(len(b.records))
			progress := b.progress
			f.pub.Publish(ctx, kafka.Batch{Records: b.records, CommitTime: b.commitTime, Cursors: b.cursors, Stream: b.stream}, func(err error) {
				if err != nil {
					fail(fmt.Errorf("publish to kafka: %w", err))
					return
				}
				if progress {
					return // no ticket: progress records confirm nothing
				}
				f.published.Add(n)
				if err := f.wm.Load().Done(t); err != nil {
					fail(err)
				}
			})
		}
	}
}

package flow_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/flow"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// oneTx is a capture source that hands on one transaction and stops once
// its end is confirmed.
type oneTx struct{ stop context.CancelFunc }

func (s oneTx) Run(ctx context.Context, h capture.Handler) error {
	if err := h(ctx, append([]capture.Message{connected()}, tx(0x200, 1, 2)...)); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s oneTx) Confirm(lsn capture.LSN) {
	fmt.Println("confirmed", lsn)
	if lsn == 0x208 {
		s.stop()
	}
}

// printer is a publisher that prints each batch and acknowledges it at once.
type printer struct{}

func (printer) Publish(_ context.Context, b kafka.Batch, onAck func(error)) {
	for _, r := range b.Records {
		fmt.Println("publish", r.Topic, string(r.Key), r.Type)
	}
	onAck(nil)
}

func (printer) Flush(context.Context) error { return nil }

// A Flow over a capture source and a publisher: the position is confirmed
// once the publisher acknowledged the transaction's events.
func Example() {
	m, err := pipeline.Parse("mapping.yaml", []byte(mappingSrc), nil, pipeline.LoadOptions{Schema: pipeline.SchemaOf(orders)})
	if err != nil {
		log.Fatal(err)
	}
	mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := flow.New(flow.Config{DeadLetterTopic: m.DeadLetterTopic()},
		flow.Parts{Source: oneTx{stop: cancel}, Mapper: mp, Mapping: m, Publisher: printer{}})
	if err != nil {
		log.Fatal(err)
	}
	err = f.Run(ctx)
	fmt.Println(err, f.Stats().Events, "events")
	// Output:
	// publish shop.order 1 OrderPlaced
	// publish shop.order 2 OrderPlaced
	// confirmed 0/208
	// context canceled 2 events
}

package kafka_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// Publish batches asynchronously; each acknowledgement, reported in call
// order, marks its watermark ticket done.
func ExamplePublisher() {
	ctx := context.Background()
	broker, err := kfake.NewCluster(kfake.NumBrokers(1)) // a real deployment points at Kafka
	if err != nil {
		fmt.Println(err)
		return
	}
	defer broker.Close()
	p, err := kafka.New(kafka.Config{Brokers: broker.ListenAddrs()}, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	if err := p.EnsureTopics(ctx, []string{"order"}); err != nil {
		fmt.Println(err)
		return
	}

	w := backpressure.NewWatermark(0x1000, nil)
	for i, end := range []uint64{0x1100, 0x1200} { // two source transactions
		ticket, _ := w.Track(end)
		rec := pipeline.Record{Topic: "order", Key: []byte(fmt.Sprint("o-", i)), Value: []byte(`{"type":"OrderRequested"}`)}
		p.Publish(ctx, kafka.Batch{Records: []pipeline.Record{rec}}, func(err error) {
			if err != nil {
				return // the ticket stays pending: the watermark never passes it
			}
			_ = w.Done(ticket)
		})
	}
	if err := p.Flush(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("confirmed %X\n", w.Confirmed())
	// Output:
	// confirmed 1200
}

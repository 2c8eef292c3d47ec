package cep_test

import (
	"fmt"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/pipeline"
)

// An order promised and not declared within 24 hours: the deadline fires
// when a progress record moves the watermark past it.
func Example() {
	rules, err := cep.ParseRules("cep.yaml", []byte(`
version: 1
rules:
  - name: order_overdue
    version: 1
    kind: absence
    aggregate: order
    start: {type: OrderPromised}
    expect: {type: OrderDeclared}
    within: 24h
    emit:
      type: OrderOverdue
      version: 1
      data: {order_id: matched.start.data.order_id, due: deadline}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := cep.PartitionID{Topic: "shop.order", Partition: 0}
	engine, err := cep.New(rules, cep.Config{Source: "cdcflow://cep/shop", Partitions: []cep.PartitionID{p}})
	if err != nil {
		fmt.Println(err)
		return
	}
	promised := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	pos := pipeline.MakePosition(0x100, 0, 0)
	inputs := []cep.Input{
		{Partition: p, Offset: 0, Event: pipeline.Event{ID: pipeline.EventID("src", pos), Source: "src",
			Type: "OrderPromised", Version: 1, AggregateType: "order", AggregateID: "17", Position: pos,
			Time: promised, Data: []byte(`{"order_id":17}`)}},
		{Partition: p, Offset: 1, Event: pipeline.NewProgress("src", "order", capture.LSN(0x200), promised.Add(25*time.Hour))},
	}
	for _, in := range inputs {
		err := engine.Feed(in, func(d pipeline.Event) {
			fmt.Println(d.Type, d.AggregateType, d.AggregateID, d.Position, string(d.Data))
		})
		if err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// OrderOverdue order 17 0000000000000200-FFFFFFFF-8000 {"due":"2026-03-02T08:00:00Z","order_id":17}
}

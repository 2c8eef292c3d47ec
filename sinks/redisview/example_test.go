package redisview_test

import (
	"fmt"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func ExampleParseDefinitions() {
	defs, err := redisview.ParseDefinitions([]byte(`
version: 1
views:
  - name: order
    kind: entity
    aggregate: order
    on:
      - type: OrderRequested
        set: {status: '"requested"', total: data.total}
  - name: per_status
    kind: aggregate
    entity: order
    group: state.status
    sums: [{name: total, expr: decimal(state.total), scale: 2}]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(defs.Names(), defs.AggregateTypes())

	_, err = redisview.ParseDefinitions([]byte(`
version: 1
views:
  - name: pending
    kind: index
    entity: order
    score: state.ordered_at
`))
	fmt.Println(err)
	// Output:
	// [order per_status] [order]
	// view definitions:
	//   line 6: view "pending": entity "order": no such view
	//   line 7: view "pending": score: result is string; want int or double or timestamp or decimal
}

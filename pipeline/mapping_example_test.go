package pipeline_test

import (
	"fmt"
	"log"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

// A status column's transition becomes a domain event.
func ExampleMapper() {
	const src = `version: 1
topics: {prefix: shop.}
tables:
  - table: orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - type: OrderPromised
        version: 1
        when: op == "update" && changed("status") && row.status == "C"
        data: {order_id: row.id, total: row.total, big: row.total > 100}
`
	orders := &capture.Relation{Schema: "public", Table: "orders", ReplicaIdentity: capture.IdentityFull, Columns: []capture.Column{
		{Name: "id", TypeName: "int8", Key: true}, {Name: "status", TypeName: "bpchar"}, {Name: "total", TypeName: "numeric"}}}
	m, err := pipeline.Parse("mapping.yaml", []byte(src), nil, pipeline.LoadOptions{Schema: pipeline.SchemaOf(orders)})
	if err != nil {
		log.Fatal(err)
	}
	mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{})
	if err != nil {
		log.Fatal(err)
	}
	v := func(d any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: d} }
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "7301", Timeline: 1, Database: "shop"}})
	mp.Begin(&capture.Begin{FinalLSN: 0x16B3748, XID: 740, CommitTime: at})
	emit := func(e pipeline.Event) {
		fmt.Println(m.Topic(e.AggregateType), e.AggregateID, e.Type, e.Version, e.Position, string(e.Data))
	}
	err = mp.Change(&capture.Change{Op: capture.OpUpdate, FinalLSN: 0x16B3748, XID: 740, CommitTime: at, Relation: orders,
		Old: []capture.Value{v(int64(101)), v("N"), v(capture.Numeric("120.50"))},
		New: []capture.Value{v(int64(101)), v("C"), v(capture.Numeric("120.50"))}}, emit)
	if err != nil {
		log.Fatal(err)
	}
	if err := mp.Commit(&capture.Commit{FinalLSN: 0x16B3748, EndLSN: 0x16B3778}, emit); err != nil {
		log.Fatal(err)
	}
	// Output:
	// shop.order 101 OrderPromised 1 00000000016B3748-00000000-0000 {"order_id":101,"total":"120.50","big":true}
}

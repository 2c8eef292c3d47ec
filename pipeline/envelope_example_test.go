package pipeline_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

func ExampleEncodeEvent() {
	src := capture.Source{SystemID: "7301234567890123456", Timeline: 1, Database: "orders"}.URI()
	pos := pipeline.MakePosition(0x16B374D848, 3, 0)
	e := pipeline.Event{
		ID:            pipeline.EventID(src, pos),
		Source:        src,
		Type:          "OrderPromised",
		Version:       2,
		AggregateType: "order",
		AggregateID:   "42",
		Position:      pos,
		LSN:           0x16B374D848,
		XID:           4242,
		Time:          time.Date(2026, 11, 23, 10, 15, 0, 123456000, time.UTC),
		Data:          json.RawMessage(`{"order_id": 42, "total": "1234.5600"}`),
	}
	r, err := pipeline.EncodeEvent(e, "cdcflow.order", pipeline.Structured)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("key %s, %s: %s\n", r.Key, r.Headers[0].Key, r.Headers[0].Value)
	fmt.Printf("%s\n", r.Value)

	back, err := pipeline.DecodeRecord(r)
	fmt.Println(back.Type, back.Version, back.Position, back.LSN, err)
	// Output:
	// key 42, content-type: application/cloudevents+json; charset=UTF-8
	// {"specversion":"1.0","id":"f89bc773-b8b0-8404-ae8c-2b28a48f614c","source":"postgres://7301234567890123456/orders?tl=1","type":"OrderPromised","subject":"42","time":"2026-11-23T10:15:00.123456Z","datacontenttype":"application/json","dataschema":"urn:cdcflow:schema:OrderPromised:v2","sequence":"00000016B374D848-00000003-0000","partitionkey":"42","pglsn":"16/B374D848","pgxid":"4242","aggregatetype":"order","data":{"order_id":42,"total":"1234.5600"}}
	// OrderPromised 2 00000016B374D848-00000003-0000 16/B374D848 <nil>
}

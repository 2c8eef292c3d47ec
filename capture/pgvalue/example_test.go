package pgvalue_test

import (
	"fmt"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgvalue"
)

func ExampleDecode() {
	cols := []capture.Column{
		{Name: "amount", TypeOID: 1700},                      // numeric
		{Name: "placed_at", TypeOID: 1184},                   // timestamptz
		{Name: "wait", TypeOID: 1186},                        // interval
		{Name: "tags", TypeOID: 1009},                        // text[]
		{Name: "price", TypeOID: 16390, TypeName: "numeric"}, // a domain over numeric
	}
	texts := []string{"1234.5600", "2026-11-23 15:45:00.5+05:30", "-1 days +02:00:00", `{a,"b c",NULL}`, "9.90"}
	for i, col := range cols {
		v, err := pgvalue.Decode(col, []byte(texts[i]))
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: %T %v\n", col.Name, v.Data, v.Data)
	}
	_, err := pgvalue.Decode(capture.Column{Name: "qty", TypeOID: 23}, []byte("12.5"))
	fmt.Println(err)
	// Output:
	// amount: capture.Numeric 1234.5600
	// placed_at: time.Time 2026-11-23 10:15:00.5 +0000 UTC
	// wait: string P-1DT2H
	// tags: []interface {} [a b c <nil>]
	// price: capture.Numeric 9.90
	// decode column "qty" of type int4 from "12.5": invalid syntax
}

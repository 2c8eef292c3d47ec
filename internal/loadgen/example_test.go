package loadgen_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cdcflow/cdcflow/internal/loadgen"
)

// Example runs 1000 repeatable order lifecycle transactions against a
// database that holds the reference schema (see Init), then reports what
// they changed.
func Example() {
	g, err := loadgen.New(loadgen.Config{
		DSN:   "postgres://postgres@127.0.0.1:5433/orders?sslmode=disable",
		Seed:  42,
		Count: 1000,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := g.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
	st := g.Stats()
	fmt.Println(st.Transactions, "transactions;", st.Tables["orders"].Inserted, "orders placed")
}

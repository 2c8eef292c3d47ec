package replication_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
)

// A Reader hands messages to a handler; the handler confirms what it has made
// durable, here once it is printed.
func Example() {
	ctx := context.Background()
	cfg := replication.Config{
		DSN:    "postgres://cdcflow@db.example/orders",
		Tables: []string{"public.orders", `public."Order Lines"`},
	}
	if err := replication.Preflight(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err) // every problem, each with the SQL that fixes it
		return
	}
	r, err := replication.New(cfg, slog.Default(), replication.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	err = r.Run(ctx, func(ctx context.Context, msgs []capture.Message) error {
		for _, m := range msgs {
			if c, ok := m.(*capture.Commit); ok {
				fmt.Println("transaction", c.XID, "ends at", c.EndLSN)
				r.Confirm(c.EndLSN)
			}
		}
		return nil
	})
	fmt.Fprintln(os.Stderr, err)
}

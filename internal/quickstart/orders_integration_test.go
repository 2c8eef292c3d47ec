package quickstart

import (
	"context"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/deploy/examples/orders"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// TestIntegrationOrdersBeforeAGeneration reads the reference views through
// a real Reader before anything was materialized: nothing to show yet.
func TestIntegrationOrdersBeforeAGeneration(t *testing.T) {
	srv := testenv.Redis(t)
	src, err := orders.Files.ReadFile(orders.ViewsFile)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	r, err := redisview.NewReader(defs, srv.Client(t), srv.Prefix(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	o := NewOrders(r)
	if got := o.Status(t.Context()); got != "views -" {
		t.Errorf("Status = %q; want views -", got)
	}
	var b strings.Builder
	o.WriteSummary(t.Context(), &b)
	if !strings.HasPrefix(b.String(), "views: read views: no generation") {
		t.Errorf("WriteSummary wrote %q; want that no generation is live", b.String())
	}
}

// TestIntegrationOrdersAwaitDatabase waits for the views to hold the
// orders of a real database.
func TestIntegrationOrdersAwaitDatabase(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 3)`)
	reads := 0
	o := &Orders{read: func(context.Context) (map[string]redisview.Group, error) {
		reads++
		return groups(map[string]int64{"placed": int64(reads)}), nil // 1, 2, 3 orders
	}}
	if err := o.AwaitDatabase(t.Context(), db.DSN); err != nil {
		t.Fatalf("AwaitDatabase = %v", err)
	}
	if reads != 3 {
		t.Errorf("AwaitDatabase returned after %d reads; want 3 (when the views hold the 3 orders)", reads)
	}
	db.Exec(t, `DROP TABLE orders`)
	if err := o.AwaitDatabase(t.Context(), db.DSN); err == nil || !strings.HasPrefix(err.Error(), "count orders: ") {
		t.Errorf("AwaitDatabase without an orders table = %v; want count orders: ...", err)
	}
}

package loadgen

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Schema is the SQL that creates the reference order database's types and
// tables in the current schema. It is the canonical copy of
// deploy/examples/orders/schema.sql.
//
//go:embed schema.sql
var Schema string

// Init creates the reference schema in the database conn is connected to.
// It fails if the tables exist already.
func Init(ctx context.Context, conn *pgx.Conn) error {
	// Without arguments pgx sends the script in the simple protocol, which
	// runs several statements in one implicit transaction.
	if _, err := conn.Exec(ctx, Schema); err != nil {
		return fmt.Errorf("create order schema: %w", err)
	}
	return nil
}

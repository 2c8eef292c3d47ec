package loadgen

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Prepare creates the database name, which orderDSN connects to, through
// adminDSN unless it exists, and loads the reference schema into it (Init)
// unless its orders table exists. It reports whether it created anything.
func Prepare(ctx context.Context, adminDSN, orderDSN, name string) (bool, error) {
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return false, fmt.Errorf("look for database %q: %w", name, err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return false, fmt.Errorf("create database %q: %w", name, err)
		}
	}
	conn, err := pgx.Connect(ctx, orderDSN)
	if err != nil {
		return false, fmt.Errorf("connect to %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var hasSchema bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('public.orders') IS NOT NULL`).Scan(&hasSchema); err != nil {
		return false, fmt.Errorf("look for the order schema: %w", err)
	}
	if hasSchema {
		return !exists, nil
	}
	return true, Init(ctx, conn)
}

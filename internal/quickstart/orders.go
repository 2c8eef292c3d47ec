package quickstart

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// PerStatusView is the reference aggregate view of orders by status.
const PerStatusView = "per_status"

// Orders reads the orders the reference views hold. It is safe for
// concurrent use if its reader is (a redisview.Reader is).
type Orders struct {
	// read returns the groups of PerStatusView in the current generation.
	read func(ctx context.Context) (map[string]redisview.Group, error)
}

// NewOrders returns Orders reading through r, which the caller owns.
func NewOrders(r *redisview.Reader) *Orders {
	return &Orders{read: func(ctx context.Context) (map[string]redisview.Group, error) {
		snap, err := r.Current(ctx)
		if err != nil {
			return nil, err
		}
		return snap.Aggregate(ctx, PerStatusView)
	}}
}

// PerStatus reads the orders per status, and their total, giving Redis at
// most a second.
func (o *Orders) PerStatus(ctx context.Context) (map[string]redisview.Group, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	groups, err := o.read(ctx)
	var n int64
	for _, g := range groups {
		n += g.Count
	}
	return groups, n, err
}

// Status is the views' part of the live status line: "views 12 orders",
// or "views -" when they cannot be read.
func (o *Orders) Status(ctx context.Context) string {
	_, n, err := o.PerStatus(ctx)
	if err != nil {
		return "views -"
	}
	return fmt.Sprintf("views %d orders", n)
}

// AwaitDatabase waits (at most a minute) until the views hold as many
// orders as the orders table of the database at dsn holds now.
func (o *Orders) AwaitDatabase(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var want int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&want); err != nil {
		return fmt.Errorf("count orders: %w", err)
	}
	return o.awaitCount(ctx, want)
}

// awaitCount polls every 200ms, for at most a minute, until the views
// hold want orders.
func (o *Orders) awaitCount(ctx context.Context, want int64) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, n, err := o.PerStatus(ctx); err == nil && n == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the views to hold the %d orders: %w", want, ctx.Err())
		case <-tick.C:
		}
	}
}

// WriteSummary writes the orders per status to w, or why they cannot be
// read.
func (o *Orders) WriteSummary(ctx context.Context, w io.Writer) {
	groups, n, err := o.PerStatus(ctx)
	if err != nil {
		fmt.Fprintf(w, "views: %v\n", err)
		return
	}
	fmt.Fprintln(w, Summary(groups, n))
}

// Summary is the closing line about the views: the total n and the count
// of each status, statuses in order, e.g.
// "views: 3 orders (paid 1, placed 2)".
func Summary(groups map[string]redisview.Group, n int64) string {
	names := make([]string, 0, len(groups))
	for st := range groups {
		names = append(names, st)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, st := range names {
		parts[i] = fmt.Sprintf("%s %d", st, groups[st].Count)
	}
	return fmt.Sprintf("views: %d orders (%s)", n, strings.Join(parts, ", "))
}

package replication

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// leaseRun is a Lease running in the background: done is closed when Run
// returned, err is what it returned.
type leaseRun struct {
	*Lease
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// stop stops the lease and returns what Run returned.
func (r *leaseRun) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// runLease runs a Lease of slot named instance in the background; it stops
// it in t.Cleanup.
func runLease(t *testing.T, dsn, slot, instance string, m *LeaseMetrics) *leaseRun {
	t.Helper()
	l, err := NewLease(LeaseConfig{DSN: dsn, Slot: slot, Instance: instance, Timeout: 2 * time.Second, PollInterval: 50 * time.Millisecond}, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &leaseRun{Lease: l, done: make(chan struct{}), cancel: cancel}
	go func() {
		r.err = l.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		if err := r.stop(); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrLeaseLost) {
			t.Errorf("lease %s: Run = %v", instance, err)
		}
	})
	return r
}

func awaitAcquired(t *testing.T, l *leaseRun, what string) {
	t.Helper()
	select {
	case <-l.Acquired():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not take the lease within 30s", what)
	}
}

// TestIntegrationLeaseTakeover runs two leases of one slot: the first takes
// it, the second stands by until the first stops, then takes over, and the
// holder's session tells status who is active and how many takeovers
// happened.
func TestIntegrationLeaseTakeover(t *testing.T) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	conn := db.Conn(t)
	slot := fmt.Sprintf("lease_%d", time.Now().UnixNano()%1e9)

	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	mA, mB := NewLeaseMetrics(regA), NewLeaseMetrics(regB)
	a := runLease(t, db.DSN, slot, "a:1", mA)
	awaitAcquired(t, a, "the first instance")
	b := runLease(t, db.DSN, slot, "b:2", mB)
	testenv.Await(t, 30*time.Second, "the second instance to stand by, having seen the holder", func() (bool, error) {
		b.mu.Lock()
		seen := b.holder.seen
		b.mu.Unlock()
		h, err := ReadLease(ctx, conn, slot)
		return seen && h.Standbys == 1, err
	})
	h, err := ReadLease(ctx, conn, slot)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Held || h.Instance != "a:1" || h.Takeovers != 0 || h.Since.IsZero() {
		t.Errorf("ReadLease = %+v; want held by a:1, since set, 0 takeovers", h)
	}
	if !a.Active() || b.Active() {
		t.Errorf("Active: a %v, b %v; want true, false", a.Active(), b.Active())
	}
	if got := testutil.ToFloat64(mA.activeG); got != 1 {
		t.Errorf("a: cdcflow_capture_active = %v; want 1", got)
	}
	if got := testutil.ToFloat64(mB.activeG); got != 0 {
		t.Errorf("b: cdcflow_capture_active = %v; want 0", got)
	}
	if err := b.Healthy(); err != nil {
		t.Errorf("standby Healthy() = %v; want nil", err)
	}

	// The first stops: its session closes, the standby takes over.
	if err := a.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after a shutdown = %v; want context.Canceled", err)
	}
	awaitAcquired(t, b, "the standby")
	if got := testutil.ToFloat64(mA.activeG); got != 0 {
		t.Errorf("a after stopping: cdcflow_capture_active = %v; want 0", got)
	}
	if got := testutil.ToFloat64(mB.activeG); got != 1 {
		t.Errorf("b: cdcflow_capture_active = %v; want 1", got)
	}
	if got := testutil.ToFloat64(mB.takeovers); got != 1 {
		t.Errorf("b: cdcflow_capture_takeovers_total = %v; want 1", got)
	}
	if got := testutil.ToFloat64(mB.sinceG); got <= 0 {
		t.Errorf("b: cdcflow_capture_active_since_seconds = %v; want a time", got)
	}
	testenv.Await(t, 30*time.Second, "the new holder to announce itself", func() (bool, error) {
		h, err := ReadLease(ctx, conn, slot)
		return h.Instance == "b:2" && h.Takeovers == 1 && h.Standbys == 0, err
	})
}

// TestIntegrationLeaseLost ends the holder's lease session while another
// session waits for the lock: the holder must find the lease taken and
// stop with ErrLeaseLost; after the same without a competitor, it takes the
// lease again and stays active.
func TestIntegrationLeaseLost(t *testing.T) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	conn := db.Conn(t)
	slot := fmt.Sprintf("lease_%d", time.Now().UnixNano()%1e9)
	a := runLease(t, db.DSN, slot, "a:1", nil)
	awaitAcquired(t, a, "the instance")

	holderPID := func() int32 {
		t.Helper()
		h, err := ReadLease(ctx, conn, slot)
		if err != nil || !h.Held {
			t.Fatalf("ReadLease = %+v, %v; want held", h, err)
		}
		return h.PID
	}
	// Without a competitor: the holder takes the lease again.
	first := holderPID()
	db.Exec(t, "SELECT pg_terminate_backend($1)", first)
	testenv.Await(t, 30*time.Second, "the holder to take the lease again", func() (bool, error) {
		h, err := ReadLease(ctx, conn, slot)
		return h.Held && h.PID != first && h.Instance == "a:1", err
	})
	if !a.Active() {
		t.Error("Active() = false after taking the lease again; want true")
	}

	// A session queued on the lock gets it the moment the holder's session
	// ends, before the holder can try again.
	other, err := pgconn.Connect(ctx, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	second := holderPID()
	queued := make(chan error, 1)
	go func() {
		_, err := other.Exec(ctx, fmt.Sprintf("SELECT pg_advisory_lock(%d)", leaseKey(slot))).ReadAll()
		queued <- err
	}()
	testenv.Await(t, 30*time.Second, "the other session to wait for the lock", func() (bool, error) {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND NOT granted`, int32(other.PID())).Scan(&n)
		return n == 1, err
	})
	db.Exec(t, "SELECT pg_terminate_backend($1)", second)
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
		if !errors.Is(a.err, ErrLeaseLost) {
			t.Errorf("Run = %v; want ErrLeaseLost", a.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of losing the lease")
	}
	if err := a.fence(ctx, slot); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("fence after the loss = %v; want ErrLeaseLost", err)
	}
}

// TestIntegrationLeaseFence checks that the holder ends a walsender still
// streaming the slot (a stale session), and only that one.
func TestIntegrationLeaseFence(t *testing.T) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	conn := db.Conn(t)
	slot := fmt.Sprintf("lease_%d", time.Now().UnixNano()%1e9)
	bystander := slot + "_other"
	db.Exec(t, "SELECT pg_create_logical_replication_slot($1, 'test_decoding'), pg_create_logical_replication_slot($2, 'test_decoding')", slot, bystander)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), db.DSN)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), `SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots WHERE slot_name IN ($1, $2) AND active_pid IS NOT NULL`, slot, bystander); err != nil {
			t.Error(err)
		}
		if _, err := c.Exec(context.Background(), `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ($1, $2)`, slot, bystander); err != nil {
			t.Error(err)
		}
	})
	stream := func(s string) *pgconn.PgConn {
		t.Helper()
		cfg, err := pgconn.ParseConfig(db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["replication"] = "database"
		rc, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close(context.Background()) })
		if err := pglogrepl.StartReplication(ctx, rc, s, 0, pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication}); err != nil {
			t.Fatal(err)
		}
		return rc
	}
	stale, other := stream(slot), stream(bystander)
	active := func(s string) (pid int32) {
		t.Helper()
		var p *int32
		if err := conn.QueryRow(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", s).Scan(&p); err != nil {
			t.Fatal(err)
		}
		if p == nil {
			return 0
		}
		return *p
	}
	if active(slot) != int32(stale.PID()) || active(bystander) != int32(other.PID()) {
		t.Fatal("the walsenders do not stream their slots")
	}
	l := runLease(t, db.DSN, slot, "a:1", nil)
	awaitAcquired(t, l, "the instance")
	if err := l.fence(ctx, slot, exporterName(slot)); err != nil {
		t.Fatal(err)
	}
	if pid := active(slot); pid != 0 {
		t.Errorf("slot %s still streamed by pid %d after fence; want none", slot, pid)
	}
	if pid := active(bystander); pid != int32(other.PID()) {
		t.Errorf("slot %s: active_pid %d after fence; want its walsender %d untouched", bystander, pid, other.PID())
	}
}

// TestIntegrationReplicationWALSenderTimeout checks that the replication
// session runs with the configured wal_sender_timeout (set at start-up),
// and so sends its status updates at least every third of it.
func TestIntegrationReplicationWALSenderTimeout(t *testing.T) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	for _, tt := range []struct {
		timeout time.Duration
		want    time.Duration
	}{
		{1500 * time.Millisecond, 500 * time.Millisecond},
		{0, 10 * time.Second / 3}, // the default, 10s
	} {
		r, err := New(Config{DSN: db.DSN, Tables: []string{"t"}, WALSenderTimeout: tt.timeout, StatusInterval: time.Minute}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		rconn, err := r.connectReplication(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.statusInterval(ctx, rconn)
		rconn.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("WALSenderTimeout %v: status interval %v; want %v (a third of the session's wal_sender_timeout)", tt.timeout, got, tt.want)
		}
	}
}

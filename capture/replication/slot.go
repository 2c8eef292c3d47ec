package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cdcflow/cdcflow/capture"
)

// ErrSlotLost is returned (wrapped) by Run when PostgreSQL invalidated the
// slot (wal_status = 'lost', usually because it retained more than
// max_slot_wal_keep_size) and Config.DropLostSlot is false. The changes the
// slot had not delivered are gone: drop the slot to start over with a new
// snapshot, or set DropLostSlot.
var ErrSlotLost = errors.New("replication slot lost")

// ErrSlotActive is returned (wrapped) by a session when another process
// streams from the slot. Run retries it: after a crash the old walsender
// holds the slot until wal_sender_timeout notices its peer is gone.
var ErrSlotActive = errors.New("replication slot is active")

// slotInfo is a slot's row in pg_replication_slots.
type slotInfo struct {
	exists         bool
	plugin         string
	database       string
	temporary      bool
	activePID      int32 // 0 when not active
	confirmedFlush capture.LSN
	walStatus      string
}

func lookupSlot(ctx context.Context, conn *pgx.Conn, name string) (slotInfo, error) {
	var s slotInfo
	var plugin, database, confirmed *string
	var pid *int32
	err := conn.QueryRow(ctx, `SELECT plugin, database, temporary, active_pid, confirmed_flush_lsn::text, coalesce(wal_status, '')
		FROM pg_replication_slots WHERE slot_name = $1`, name).
		Scan(&plugin, &database, &s.temporary, &pid, &confirmed, &s.walStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("look up slot %q: %w", name, err)
	}
	s.exists = true
	if plugin != nil {
		s.plugin = *plugin
	}
	if database != nil {
		s.database = *database
	}
	if pid != nil {
		s.activePID = *pid
	}
	if confirmed != nil {
		if s.confirmedFlush, err = capture.ParseLSN(*confirmed); err != nil {
			return s, fmt.Errorf("look up slot %q: %w", name, err)
		}
	}
	return s, nil
}

// slotMarker is the payload of the logical message emitted when a slot is
// created with a snapshot. It sits in the slot's stream right after the
// consistent point: meeting it again after a restart means the consumer never
// confirmed past it, so the snapshot epoch never completed durably.
type slotMarker struct {
	Slot     string `json:"slot"`
	Epoch    uint64 `json:"epoch"`
	SystemID string `json:"system_id"`
	Timeline int32  `json:"timeline"`
	Database string `json:"database"`
}

// createdSlot is the result of creating a slot.
type createdSlot struct {
	consistentPoint capture.LSN
	snapshotName    string // "" when no snapshot was exported
	// exporter is the temporary slot whose creation exported the snapshot,
	// to be dropped on the replication connection once the snapshot is read;
	// "" when the slot itself exported it.
	exporter string
}

// createSlot creates the configured slot on the replication connection rconn
// (conn is a normal connection to the same database, used to emit the slot
// marker and copy the slot). See docs/capture.md for the scheme:
//
//   - never: the slot, without snapshot;
//   - temporary or initial_only: a temporary slot exporting a snapshot;
//   - initial: a temporary slot "<slot>_init" exporting the snapshot, the slot
//     marker, then pg_copy_logical_replication_slot to the persistent slot.
//     A crash before the copy leaves nothing behind; a crash after it leaves a
//     slot whose stream holds the marker.
func (r *Reader) createSlot(ctx context.Context, rconn *pgconn.PgConn, conn *pgx.Conn, src capture.Source) (createdSlot, error) {
	cfg := r.cfg
	opts := pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"}
	name := cfg.Slot
	copyTo := ""
	switch {
	case cfg.SnapshotMode == SnapshotInitialOnly:
		opts.Temporary = true
		name = exporterName(cfg.Slot)
	case cfg.SnapshotMode == SnapshotNever:
		opts.Temporary = cfg.Temporary
		opts.SnapshotAction = "NOEXPORT_SNAPSHOT"
	case cfg.Temporary:
		opts.Temporary = true
	default:
		opts.Temporary = true
		name = exporterName(cfg.Slot)
		copyTo = cfg.Slot
	}
	res, err := r.createWithTimeout(ctx, rconn, name, opts)
	if err != nil {
		return createdSlot{}, err
	}
	cp, err := capture.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return createdSlot{}, fmt.Errorf("create slot %q: %w", name, err)
	}
	out := createdSlot{consistentPoint: cp, snapshotName: res.SnapshotName}
	if copyTo == "" {
		if cfg.SnapshotMode == SnapshotInitialOnly {
			out.exporter = name
		}
		return out, nil
	}
	out.exporter = name
	payload, _ := json.Marshal(slotMarker{Slot: copyTo, Epoch: uint64(cp), SystemID: src.SystemID, Timeline: src.Timeline, Database: src.Database})
	if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(false, $1, $2::text)", r.slotPrefix(), string(payload)); err != nil {
		return createdSlot{}, fmt.Errorf("emit slot marker for %q: %w", copyTo, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_copy_logical_replication_slot($1, $2, false)", name, copyTo); err != nil {
		return createdSlot{}, fmt.Errorf("copy slot %q to %q: %w", name, copyTo, err)
	}
	return out, nil
}

// exporterName is the temporary slot that exports the snapshot for slot.
func exporterName(slot string) string {
	const suffix = "_init"
	if len(slot) > 63-len(suffix) {
		slot = slot[:63-len(suffix)]
	}
	return slot + suffix
}

// createWithTimeout runs CREATE_REPLICATION_SLOT, which waits for every
// transaction running at that moment to end. After SlotCreateTimeout it
// names the backends it waits for (looked up on a connection of its own,
// as rconn is busy) and cancels the command.
func (r *Reader) createWithTimeout(ctx context.Context, rconn *pgconn.PgConn, name string, opts pglogrepl.CreateReplicationSlotOptions) (pglogrepl.CreateReplicationSlotResult, error) {
	tctx, cancel := context.WithTimeout(ctx, r.cfg.SlotCreateTimeout)
	defer cancel()
	var blocked *SlotCreateBlockedError
	done := make(chan struct{})
	stop := context.AfterFunc(tctx, func() {
		defer close(done)
		lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer lcancel()
		if ctx.Err() == nil { // the timeout, not a shutdown
			b := &SlotCreateBlockedError{Slot: name, Timeout: r.cfg.SlotCreateTimeout}
			b.Blockers, b.LookupErr = r.blockingBackends(lctx, rconn.PID())
			blocked = b
		}
		_ = rconn.CancelRequest(lctx) // best effort: without it the command waits on
	})
	res, err := pglogrepl.CreateReplicationSlot(context.WithoutCancel(ctx), rconn, name, "pgoutput", opts)
	if !stop() {
		<-done
	}
	if err != nil {
		if blocked != nil {
			return res, blocked
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("create slot %q: %w", name, err)
	}
	return res, nil
}

// Backend is a PostgreSQL session as pg_stat_activity shows it. Fields the
// Reader's role may not see (without pg_read_all_stats) are zero.
type Backend struct {
	PID             int32
	ApplicationName string
	User            string
	State           string
	XactStart       time.Time
	QueryStart      time.Time
}

func (b Backend) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "pid %d", b.PID)
	if b.ApplicationName != "" {
		fmt.Fprintf(&s, " (application %q)", b.ApplicationName)
	}
	if b.User != "" {
		fmt.Fprintf(&s, " user %q", b.User)
	}
	if b.State != "" {
		fmt.Fprintf(&s, " %s", b.State)
	}
	if !b.XactStart.IsZero() {
		fmt.Fprintf(&s, ", transaction started %s", b.XactStart.UTC().Format(time.RFC3339))
	}
	if !b.QueryStart.IsZero() {
		fmt.Fprintf(&s, ", query started %s", b.QueryStart.UTC().Format(time.RFC3339))
	}
	return s.String()
}

// SlotCreateBlockedError is returned by Run when slot creation timed out
// waiting for running transactions to end.
type SlotCreateBlockedError struct {
	Slot      string
	Timeout   time.Duration
	Blockers  []Backend
	LookupErr error // why Blockers could not be read, if they could not
}

func (e *SlotCreateBlockedError) Error() string {
	var s strings.Builder
	fmt.Fprintf(&s, "create slot %q: timed out after %s waiting for running transactions to end", e.Slot, e.Timeout)
	switch {
	case len(e.Blockers) > 0:
		s.WriteString("; waiting for ")
		for i, b := range e.Blockers {
			if i > 0 {
				s.WriteString("; ")
			}
			s.WriteString(b.String())
		}
		fmt.Fprintf(&s, ": end those transactions (or SELECT pg_terminate_backend(%d)) and retry, or raise capture.slot_create_timeout", e.Blockers[0].PID)
	case e.LookupErr != nil:
		fmt.Fprintf(&s, " (could not list them: %v)", e.LookupErr)
	}
	return s.String()
}

// blockingBackends lists the sessions whose transactions the walsender pid
// waits for: those pg_blocking_pids names or, when it names none, every
// session with a transaction id.
func (r *Reader) blockingBackends(ctx context.Context, pid uint32) ([]Backend, error) {
	conn, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT pid, coalesce(application_name, ''), coalesce(usename::text, ''), coalesce(state, ''),
			xact_start, query_start
		FROM pg_stat_activity
		WHERE pid = ANY(pg_blocking_pids($1))
		   OR (cardinality(pg_blocking_pids($1)) = 0 AND backend_xid IS NOT NULL AND pid <> $1)
		ORDER BY xact_start NULLS LAST LIMIT 10`, int32(pid))
	if err != nil {
		return nil, fmt.Errorf("list blocking backends: %w", err)
	}
	var out []Backend
	for rows.Next() {
		var b Backend
		var xs, qs *time.Time
		if err := rows.Scan(&b.PID, &b.ApplicationName, &b.User, &b.State, &xs, &qs); err != nil {
			return nil, fmt.Errorf("list blocking backends: %w", err)
		}
		if xs != nil {
			b.XactStart = *xs
		}
		if qs != nil {
			b.QueryStart = *qs
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// dropSlot drops a slot through a normal connection, waiting briefly for a
// walsender that still holds it to go away.
func dropSlot(ctx context.Context, conn *pgx.Conn, name string) error {
	if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", name); err != nil {
		return fmt.Errorf("drop slot %q: %w", name, err)
	}
	return nil
}

package replication

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
)

// SlotState is a slot as the server sees it, beside the server's current
// WAL position: what the heartbeat's slot metrics and `cdcflow status` show.
type SlotState struct {
	// CurrentLSN is the server's current WAL write position.
	CurrentLSN capture.LSN
	// Exists is false when there is no slot of that name; the other fields
	// are then zero.
	Exists bool
	// ConfirmedLSN is confirmed_flush_lsn: what the consumer confirmed.
	ConfirmedLSN capture.LSN
	// RestartLSN is the oldest WAL the slot may still need.
	RestartLSN capture.LSN
	// LagBytes is CurrentLSN - ConfirmedLSN; RetainedBytes is CurrentLSN -
	// RestartLSN, the WAL the server keeps for the slot.
	LagBytes, RetainedBytes int64
	// SafeWALSize is the WAL that can still be written before the slot
	// is lost to max_slot_wal_keep_size; -1 when unlimited.
	SafeWALSize int64
	// WALStatus is reserved, extended, unreserved or lost.
	WALStatus string
	// Active says a walsender streams from the slot, as process ActivePID,
	// whose application_name is ActiveApp ("" when not visible to the
	// role).
	Active    bool
	ActivePID int32
	ActiveApp string
}

// ReadSlot reads the state of slot name and the server's current WAL
// position on conn, a normal (not replication) connection. It blocks on
// the server.
func ReadSlot(ctx context.Context, conn *pgx.Conn, name string) (SlotState, error) {
	var s SlotState
	var cur string
	var confirmed, restart *string
	var lag, retained, safe float64
	err := conn.QueryRow(ctx, `SELECT c.cur::text, s.slot_name IS NOT NULL, s.confirmed_flush_lsn::text, s.restart_lsn::text,
			coalesce(pg_wal_lsn_diff(c.cur, s.confirmed_flush_lsn), 0)::float8,
			coalesce(pg_wal_lsn_diff(c.cur, s.restart_lsn), 0)::float8,
			coalesce(s.safe_wal_size, -1)::float8, coalesce(s.wal_status, ''),
			coalesce(s.active, false), coalesce(s.active_pid, 0), coalesce(a.application_name, '')
		FROM (SELECT pg_current_wal_lsn() AS cur) c
		LEFT JOIN pg_replication_slots s ON s.slot_name = $1
		LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid`, name).
		Scan(&cur, &s.Exists, &confirmed, &restart, &lag, &retained, &safe, &s.WALStatus, &s.Active, &s.ActivePID, &s.ActiveApp)
	if err != nil {
		return s, fmt.Errorf("read slot %q: %w", name, err)
	}
	s.LagBytes, s.RetainedBytes, s.SafeWALSize = int64(lag), int64(retained), int64(safe)
	for _, v := range []struct {
		text *string
		to   *capture.LSN
	}{{&cur, &s.CurrentLSN}, {confirmed, &s.ConfirmedLSN}, {restart, &s.RestartLSN}} {
		if v.text == nil {
			continue
		}
		if *v.to, err = capture.ParseLSN(*v.text); err != nil {
			return s, fmt.Errorf("read slot %q: %w", name, err)
		}
	}
	return s, nil
}

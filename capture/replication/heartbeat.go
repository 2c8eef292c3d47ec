package replication

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
)

// beat is a heartbeat emitted and not yet seen confirmed.
type beat struct {
	lsn capture.LSN
	at  time.Time
}

// maxBeats bounds the heartbeats remembered for the lag-in-seconds metric.
const maxBeats = 1024

// heartbeat emits a heartbeat logical message every HeartbeatInterval on a
// normal connection of its own to the slot's database, and reads the slot's
// lag for the metrics. Heartbeats give the consumer a position to confirm
// while only unpublished tables are written, so the slot does not retain WAL
// for them. Failures are logged and retried on the next tick: a missed
// heartbeat costs nothing but WAL retained a little longer. It returns when
// ctx is done.
func (r *Reader) heartbeat(ctx context.Context) {
	t := time.NewTicker(r.cfg.HeartbeatInterval)
	defer t.Stop()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	var beats []beat
	for {
		if conn == nil {
			c, err := r.connect(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("heartbeat connection failed", "err", err)
			}
			conn = c
		}
		if conn != nil {
			var err error
			if beats, err = r.beat(ctx, conn, beats); err != nil && ctx.Err() == nil {
				r.log.Warn("heartbeat failed", "err", err)
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// heartbeatClock is the SQL of a heartbeat's content: the server's
// clock_timestamp() in UTC as RFC 3339 with microseconds, which the
// decoder (pgoutput.Config.HeartbeatPrefix) parses as the heartbeat's time.
const heartbeatClock = `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

// beat emits one heartbeat and updates the slot metrics.
func (r *Reader) beat(ctx context.Context, conn *pgx.Conn, beats []beat) ([]beat, error) {
	qctx, cancel := context.WithTimeout(ctx, max(r.cfg.HeartbeatInterval, 5*time.Second))
	defer cancel()
	now := time.Now().UTC()
	var lsnText string
	// txid_current() gives the statement a transaction id, so its commit is
	// flushed at once and the walsender can send the message (a
	// non-transactional message alone waits for some later flush). The
	// message carries the server's clock as it is written: a source time
	// like the commit times around it, which progress records and the CEP
	// watermark take as event time (a clock of this host's could be ahead
	// of the source's, and later transactions would seem to go back in time).
	if err := conn.QueryRow(qctx, "SELECT pg_logical_emit_message(false, $1, "+heartbeatClock+")::text, txid_current()",
		r.heartbeatPrefix()).Scan(&lsnText, new(int64)); err != nil {
		return beats, fmt.Errorf("emit heartbeat: %w", err)
	}
	r.metrics.heartbeat()
	if lsn, err := capture.ParseLSN(lsnText); err == nil && len(beats) < maxBeats {
		beats = append(beats, beat{lsn: lsn, at: now})
	}
	slot, err := ReadSlot(qctx, conn, r.cfg.Slot)
	if err != nil {
		return beats, err
	}
	if !slot.Exists {
		return beats, fmt.Errorf("read slot lag: slot %q does not exist", r.cfg.Slot)
	}
	st := slotState{lagBytes: float64(slot.LagBytes), retained: float64(slot.RetainedBytes),
		safe: float64(slot.SafeWALSize), walStatus: slot.WALStatus, active: slot.Active}
	i := 0
	for i < len(beats) && beats[i].lsn <= slot.ConfirmedLSN {
		i++
	}
	if i > 0 {
		r.metrics.heartbeatConfirmed(beats[i-1].at)
	}
	beats = append(beats[:0], beats[i:]...)
	if len(beats) > 0 {
		st.lagSeconds = time.Since(beats[0].at).Seconds()
	}
	r.metrics.slot(st)
	return beats, nil
}

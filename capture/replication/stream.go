package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgoutput"
)

// errResnapshot ends a session whose slot stream holds the marker of a
// snapshot epoch that never completed durably.
var errResnapshot = errors.New("the slot's snapshot epoch never completed durably: starting a new one")

func (r *Reader) heartbeatPrefix() string { return r.cfg.MessagePrefix + ".heartbeat" }
func (r *Reader) slotPrefix() string      { return r.cfg.MessagePrefix + ".slot" }

// stream runs START_REPLICATION from start and hands the decoded messages on
// until an error or ctx ends. It is the only user of rconn and conn.
func (r *Reader) stream(ctx context.Context, rconn *pgconn.PgConn, conn *pgx.Conn, start capture.LSN, h capture.Handler) error {
	interval, err := r.statusInterval(ctx, rconn)
	if err != nil {
		return err
	}
	if err := r.startReplication(ctx, rconn, start); err != nil {
		return err
	}
	if r.cfg.HeartbeatInterval > 0 {
		hctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { r.heartbeat(hctx) })
		defer func() {
			cancel()
			wg.Wait()
		}()
	}
	stop := interruptOnDone(ctx, rconn)
	defer stop()
	dec := pgoutput.NewDecoder(pgoutput.Config{LookupType: r.typeLookup(ctx, conn), HeartbeatPrefix: r.heartbeatPrefix(),
		DeferDecoding: r.cfg.DeferDecoding})
	return r.newStreamLoop(pgReplConn{rconn}, dec, interval).run(ctx, h)
}

// startReplication sends START_REPLICATION for the slot from start.
func (r *Reader) startReplication(ctx context.Context, rconn *pgconn.PgConn, start capture.LSN) error {
	args := []string{
		"proto_version '1'",
		"publication_names '" + strings.ReplaceAll(quoteIdent(r.cfg.Publication), "'", "''") + "'",
		"messages 'true'",
	}
	if err := pglogrepl.StartReplication(ctx, rconn, r.cfg.Slot, pglogrepl.LSN(start),
		pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: args}); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55006" { // object_in_use
			return fmt.Errorf("%w: %s", ErrSlotActive, pgErr.Message)
		}
		return fmt.Errorf("start replication on slot %q: %w", r.cfg.Slot, err)
	}
	return nil
}

// streamLoop is one session's streaming loop: it receives messages, decodes
// them into a chunk, hands chunks to the handler and keeps the status updates
// on time. Each job is a part of its own (receive and handle here; chunk and
// linger, standby, dispatcher); run only sequences them.
type streamLoop struct {
	r        *Reader
	conn     replConn
	deadline readDeadline
	dec      *pgoutput.Decoder
	counters *changeCounters
	status   standby
	chunk    chunk
	linger   linger
	hand     *dispatcher
	// inTx is true between a Begin and its Commit; reached is the highest
	// position handed on so far (a commit's end, a heartbeat or a progress
	// marker): both for progress markers.
	inTx    bool
	reached capture.LSN
}

func (r *Reader) newStreamLoop(conn replConn, dec *pgoutput.Decoder, interval time.Duration) *streamLoop {
	return &streamLoop{
		r:        r,
		conn:     conn,
		deadline: readDeadline{conn: conn},
		dec:      dec,
		counters: r.metrics.changeCounters(),
		status:   standby{conn: conn, r: r, interval: interval},
		chunk:    chunk{maxMsgs: r.cfg.ChunkMessages, maxBytes: r.cfg.ChunkBytes},
		linger:   linger{max: r.cfg.ChunkLinger, boundary: boundaryLinger},
		hand:     newDispatcher(),
	}
}

// run streams until ctx is done, the handler fails (a fatal error) or the
// connection does. A new session may start once it returned: the handler
// call in progress has returned by then.
func (l *streamLoop) run(ctx context.Context, h capture.Handler) error {
	var wg sync.WaitGroup
	wg.Go(func() { l.hand.run(ctx, h, l.r.handled) })
	defer func() {
		l.hand.close()
		wg.Wait()
	}()
	var pending []capture.Message // cut from the chunk, not yet taken by the handler
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.hand.failed(); err != nil {
			return fatal(err)
		}
		now := time.Now()
		if l.status.due(now) {
			if err := l.status.send(now); err != nil {
				return err
			}
		}
		if pending == nil && len(l.chunk.msgs) > 0 && (l.chunk.full() || l.linger.due(&l.chunk, now, l.hand.idle())) {
			pending = l.chunk.take()
			l.r.give(pending)
		}
		if pending != nil {
			if l.hand.offer(pending) {
				pending = nil
				continue
			}
			// The handler is busy: wait without reading the socket.
			handed, err := l.hand.wait(ctx, pending, l.status.next, l.r.notify)
			if err != nil {
				return fatal(err)
			}
			if handed {
				pending = nil
			}
			l.r.metrics.blocked(time.Since(now).Seconds())
			continue
		}
		msg, err := l.receive(ctx, now)
		if err != nil {
			return err
		}
		if msg != nil {
			if err := l.handle(msg, now); err != nil {
				return err
			}
		}
	}
}

// receive waits for the next message until the read deadline: the next
// status update, the chunk's linger, or a wake-up to report a Confirm. It
// returns nil and no error when the deadline passed.
func (l *streamLoop) receive(ctx context.Context, now time.Time) (pgproto3.BackendMessage, error) {
	want := l.status.wake(now)
	if len(l.chunk.msgs) > 0 {
		want = minTime(want, l.linger.deadline(&l.chunk, now))
	}
	// A deadline already set, still ahead and earlier than want, stays: it
	// only wakes the loop early, and the loop then sets the next one. Moving
	// a deadline earlier makes the runtime wake its network poller (a write
	// to its eventfd and a thread woken), and on a busy stream the chunk's
	// linger deadline moves earlier and back with every transaction (a
	// commit ends it between transactions, the next begin does not).
	if at := l.deadline.at; at.After(now) && at.Before(want) {
		want = at
	}
	if err := l.deadline.set(want); err != nil {
		return nil, err
	}
	// Checked after the deadline is set: a session ending now has set its
	// own, which this one must not hide.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	msg, err := l.conn.receive()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("receive from slot %q: %w", l.r.cfg.Slot, err)
	}
	return msg, nil
}

// handle acts on one message from the server: it answers a keepalive that
// asks for a reply, adds the decoded content of XLogData to the chunk, and
// turns an error or the end of the stream into an error.
func (l *streamLoop) handle(msg pgproto3.BackendMessage, now time.Time) error {
	switch m := msg.(type) {
	case *pgproto3.CopyData:
		if len(m.Data) == 0 {
			return nil
		}
		switch m.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
			if err != nil {
				return fmt.Errorf("parse keepalive: %w", err)
			}
			// Never confirm pkm.ServerWALEnd: only positions that came
			// through the stream and the consumer confirmed.
			l.progress(capture.LSN(pkm.ServerWALEnd), pkm.ServerTime, len(m.Data), now)
			if pkm.ReplyRequested {
				return l.status.send(time.Now())
			}
		case pglogrepl.XLogDataByteID:
			xld, err := pglogrepl.ParseXLogData(m.Data[1:])
			if err != nil {
				return fmt.Errorf("parse XLogData: %w", err)
			}
			l.r.metrics.received(capture.LSN(xld.WALStart))
			out, err := l.r.decode(l.dec, l.counters, capture.LSN(xld.WALStart), xld.WALData)
			if err != nil || out == nil {
				return err
			}
			if c := l.r.crossTimeline(out); c != nil {
				l.chunk.add(c, 0, now)
			}
			l.chunk.add(out, len(xld.WALData), now)
			switch o := out.(type) {
			case *capture.Begin:
				l.inTx = true
			case *capture.Commit:
				l.inTx = false
				l.reached = max(l.reached, o.EndLSN)
			case *capture.Marker:
				l.reached = max(l.reached, o.LSN)
			}
		}
	case *pgproto3.ErrorResponse:
		return fmt.Errorf("replication on slot %q: %w", l.r.cfg.Slot, pgconn.ErrorResponseToPgError(m))
	case *pgproto3.CopyDone:
		return fmt.Errorf("replication on slot %q: server ended the stream", l.r.cfg.Slot)
	}
	return nil
}

// progress adds a progress marker at walEnd, the WAL end of a keepalive,
// when progress markers are on, no transaction is open in the stream and
// walEnd is past what was handed on.
//
// Why the keepalive's WAL end is a proof: a logical walsender
// (src/backend/replication/walsender.c, PostgreSQL 15) sends its sentPtr as
// the keepalive's WAL end (WalSndKeepalive: "XLogRecPtrIsInvalid(writePtr) ?
// sentPtr : writePtr"), and XLogSendLogical sets sentPtr to the end of the
// last WAL record it decoded, after LogicalDecodingProcessRecord returned:
// by then the output of every transaction whose commit record ends at or
// before it was written to the connection, ahead of the keepalive. The
// other WAL end a keepalive carries (WalSndUpdateProgress on a skipped empty
// transaction under synchronous replication) is that transaction's end,
// equally past everything decoded. A keepalive sent while a large
// transaction is written out carries the end of the record before its
// commit, so it never claims the transaction in progress.
func (l *streamLoop) progress(walEnd capture.LSN, at time.Time, size int, now time.Time) {
	if !l.r.cfg.ProgressMarkers || l.inTx || walEnd <= l.reached {
		return
	}
	l.reached = walEnd
	l.chunk.add(&capture.Marker{Kind: capture.MarkerProgress, LSN: walEnd, Time: at.UTC()}, size, now)
}

// decode turns one pgoutput message into a capture message, or nil. It keeps
// only changes of the configured tables and recognises the slot marker.
func (r *Reader) decode(dec *pgoutput.Decoder, counters *changeCounters, walStart capture.LSN, data []byte) (capture.Message, error) {
	if len(data) > 0 && data[0] == 'M' {
		if lsn, payload, ok := parseMessage(data, r.slotPrefix()); ok {
			var sm slotMarker
			if err := json.Unmarshal(payload, &sm); err != nil || sm.Slot != r.cfg.Slot {
				return nil, nil // another slot's marker, or not ours
			}
			if sm.Epoch != r.epochDone {
				src := capture.Source{SystemID: sm.SystemID, Timeline: sm.Timeline, Database: sm.Database}
				if r.cfg.SnapshotDone == nil || !r.cfg.SnapshotDone(src, sm.Epoch) {
					r.dropSlot = !r.cfg.Temporary
					return nil, fmt.Errorf("met the marker of snapshot epoch %d at %s: %w", sm.Epoch, lsn, errResnapshot)
				}
				r.log.Info("snapshot epoch already complete downstream: streaming on from its marker, not snapshotting again",
					"epoch", sm.Epoch, "marker_lsn", lsn)
				r.epochDone = sm.Epoch
			}
			// The epoch this process handed on: confirming past the marker
			// says the snapshot is durable. It has no source time (this
			// host's clock now would be later than the commits after it).
			return &capture.Marker{Kind: capture.MarkerHeartbeat, LSN: lsn + 1}, nil
		}
	}
	msg, err := dec.Decode(walStart, data)
	if err != nil {
		// The same WAL decodes the same way: retrying cannot help.
		return nil, fatal(fmt.Errorf("decode message at %s: %w", walStart, err))
	}
	if c, ok := msg.(*capture.Change); ok {
		if c.Op == capture.OpTruncate {
			kept := c.Truncated[:0:0]
			for _, rel := range c.Truncated {
				if r.tableOIDs[rel.OID] {
					kept = append(kept, rel)
				}
			}
			if len(kept) == 0 {
				return nil, nil
			}
			c.Truncated, c.Relation = kept, kept[0]
		} else if c.Relation == nil || !r.tableOIDs[c.Relation.OID] {
			return nil, nil
		}
		counters.inc(c)
	}
	return msg, nil
}

// parseMessage parses a pgoutput logical message (protocol 1) and returns its
// LSN and content when its prefix is prefix.
func parseMessage(data []byte, prefix string) (capture.LSN, []byte, bool) {
	// 'M', flags (1), LSN (8), prefix (NUL-terminated), length (4), content.
	if len(data) < 10 {
		return 0, nil, false
	}
	lsn := capture.LSN(binary.BigEndian.Uint64(data[2:10]))
	rest := data[10:]
	nul := bytes.IndexByte(rest, 0)
	if nul < 0 || string(rest[:nul]) != prefix {
		return 0, nil, false
	}
	rest = rest[nul+1:]
	if len(rest) < 4 {
		return 0, nil, false
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return 0, nil, false
	}
	return lsn, rest[:n], true
}

// give records the positions of a chunk about to be handed on.
func (r *Reader) give(msgs []capture.Message) {
	if p := capture.Confirmable(msgs); p != 0 {
		r.mu.Lock()
		r.given = max(r.given, p)
		r.mu.Unlock()
	}
}

// handled records a chunk the handler returned from.
func (r *Reader) handled(msgs []capture.Message) {
	if p := capture.Confirmable(msgs); p != 0 {
		r.mu.Lock()
		r.done = max(r.done, p)
		r.mu.Unlock()
	}
}

// statusInterval is the configured interval, capped at a third of the
// server's wal_sender_timeout.
func (r *Reader) statusInterval(ctx context.Context, rconn *pgconn.PgConn) (time.Duration, error) {
	res, err := rconn.Exec(ctx, "SHOW wal_sender_timeout").ReadAll()
	if err != nil {
		return 0, fmt.Errorf("show wal_sender_timeout: %w", err)
	}
	interval := r.cfg.StatusInterval
	if len(res) == 1 && len(res[0].Rows) == 1 && len(res[0].Rows[0]) == 1 {
		if d, err := parsePGDuration(string(res[0].Rows[0][0])); err == nil && d > 0 {
			interval = min(interval, d/3)
		}
	}
	return max(interval, 10*time.Millisecond), nil
}

// parsePGDuration parses a time setting as SHOW prints it: "60s", "500ms",
// "1min", "2h", "1d", or a bare number of milliseconds.
func parsePGDuration(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9') {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse duration %q: %w", s, err)
	}
	unit := map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[s[i:]]
	if unit == 0 {
		return 0, fmt.Errorf("parse duration %q: unknown unit", s)
	}
	return time.Duration(n) * unit, nil
}

// typeLookup returns the decoder's LookupType: type names from pg_type, on
// the stream's normal connection, cached.
func (r *Reader) typeLookup(ctx context.Context, conn *pgx.Conn) func(uint32) (string, bool) {
	cache := make(map[uint32]string)
	return func(oid uint32) (string, bool) {
		if n, ok := cache[oid]; ok {
			return n, true
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var name string
		if err := conn.QueryRow(qctx, "SELECT typname FROM pg_type WHERE oid = $1", oid).Scan(&name); err != nil {
			r.log.Warn("look up type name", "oid", oid, "err", err)
			return "", false
		}
		cache[oid] = name
		return name, true
	}
}

package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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

// confirmWake bounds how long an idle stream waits before it reports a
// position the consumer confirmed meanwhile.
const confirmWake = 100 * time.Millisecond

// errResnapshot ends a session whose slot stream holds the marker of a
// snapshot epoch that never completed durably.
var errResnapshot = errors.New("the slot's snapshot epoch never completed durably: starting a new one")

func (r *Reader) heartbeatPrefix() string { return r.cfg.MessagePrefix + ".heartbeat" }
func (r *Reader) slotPrefix() string      { return r.cfg.MessagePrefix + ".slot" }

// stream runs START_REPLICATION from start and hands the decoded messages on
// until an error or ctx ends. It is the only user of rconn and conn.
//
// Flow control: the handler runs on its own goroutine, fed through a channel
// holding one chunk. While the handler is busy and a full chunk is waiting,
// this goroutine stops reading the socket (so the server's send buffer fills
// and WAL stays in PostgreSQL, not in memory) but keeps writing standby status
// updates on time, which the walsender reads even while its sends are
// blocked: wal_sender_timeout does not fire. Memory is bounded by about three
// chunks: the one being handled, the one in the channel, the one held here.
func (r *Reader) stream(ctx context.Context, rconn *pgconn.PgConn, conn *pgx.Conn, start capture.LSN, h capture.Handler) error {
	interval, err := r.statusInterval(ctx, rconn)
	if err != nil {
		return err
	}
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

	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if r.cfg.HeartbeatInterval > 0 {
		wg.Go(func() { r.heartbeat(sctx) })
	}
	chunks := make(chan []capture.Message, 1)
	herr := make(chan error, 1)
	stopHandler := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stopHandler:
				return
			default:
			}
			select {
			case <-stopHandler:
				return
			case c := <-chunks:
				if err := h(ctx, c); err != nil {
					herr <- err
					return
				}
				r.handled(c)
			}
		}
	})
	defer func() {
		close(stopHandler)
		cancel()
		wg.Wait()
	}()

	dec := pgoutput.NewDecoder(pgoutput.Config{LookupType: r.typeLookup(ctx, conn), HeartbeatPrefix: r.heartbeatPrefix()})
	counters := r.metrics.changeCounters()
	var (
		cur        []capture.Message
		curBytes   int
		curSince   time.Time
		boundary   bool // cur ends between transactions
		pending    []capture.Message
		lastSent   capture.LSN
		nextStatus time.Time // zero: send one right away
		wakeAt     time.Time // next wake-up to report a Confirm on an idle stream
		deadline   = readDeadline{conn: rconn.Conn()}
	)
	// Receiving uses no context: ReceiveMessage arms pgconn's context
	// watcher for every call with one. The session's end sets a deadline in
	// the past on the connection instead, which ends a blocked read (or a
	// status update stuck on a full send buffer) at once; the loop checks
	// ctx after setting its own read deadline, so it cannot undo that one.
	stopWake := context.AfterFunc(ctx, func() { _ = rconn.Conn().SetDeadline(time.Now()) })
	defer stopWake()
	sendStatus := func(now time.Time) error {
		confirmed := r.Confirmed()
		if err := pglogrepl.SendStandbyStatusUpdate(ctx, rconn, pglogrepl.StandbyStatusUpdate{
			WALWritePosition: pglogrepl.LSN(confirmed),
			WALFlushPosition: pglogrepl.LSN(confirmed),
			WALApplyPosition: pglogrepl.LSN(confirmed),
			ClientTime:       now,
		}); err != nil {
			return fmt.Errorf("send standby status update: %w", err)
		}
		lastSent, nextStatus = confirmed, now.Add(interval)
		r.metrics.confirmed(confirmed)
		return nil
	}

	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case err := <-herr:
			return fatal(err)
		default:
		}
		now := time.Now()
		if !now.Before(nextStatus) || r.Confirmed() != lastSent {
			if err := sendStatus(now); err != nil {
				return err
			}
		}
		// A chunk goes to the handler when it is full, when it has waited
		// ChunkLinger, or at a transaction boundary once it has gathered for
		// boundaryLinger while the handler is idle: handing on every small
		// transaction alone would cost a goroutine hand-off per transaction
		// and halve throughput, while a busy stream fills a chunk well within
		// boundaryLinger.
		if pending == nil && len(cur) > 0 &&
			(len(cur) >= r.cfg.ChunkMessages || curBytes >= r.cfg.ChunkBytes ||
				boundary && len(chunks) < cap(chunks) && now.Sub(curSince) >= boundaryLinger ||
				now.Sub(curSince) >= r.cfg.ChunkLinger) {
			pending, cur, curBytes = cur, make([]capture.Message, 0, min(len(cur), r.cfg.ChunkMessages)), 0
			r.give(pending)
		}
		if pending != nil {
			select {
			case chunks <- pending:
				pending = nil
				continue
			default:
			}
			// The handler is busy: wait without reading the socket.
			t := time.NewTimer(max(time.Until(nextStatus), 0))
			select {
			case chunks <- pending:
				pending = nil
			case err := <-herr:
				t.Stop()
				return fatal(err)
			case <-r.notify:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			r.metrics.blocked(time.Since(now).Seconds())
			continue
		}

		// The read deadline: the next status update, the chunk's linger,
		// and a wake-up every confirmWake to report a Confirm. It moves only
		// when one of them does, not per message.
		if !now.Before(wakeAt) {
			wakeAt = now.Add(confirmWake)
		}
		want := minTime(nextStatus, wakeAt)
		if len(cur) > 0 {
			due := curSince.Add(r.cfg.ChunkLinger)
			if b := curSince.Add(boundaryLinger); boundary && now.Before(b) {
				due = minTime(due, b) // past it, a busy handler keeps the chunk gathering
			}
			want = minTime(want, due)
		}
		if err := deadline.set(want); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		msg, err := rconn.ReceiveMessage(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue
			}
			return fmt.Errorf("receive from slot %q: %w", r.cfg.Slot, err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return fmt.Errorf("parse keepalive: %w", err)
				}
				// Never confirm pkm.ServerWALEnd: only positions that came
				// through the stream and the consumer confirmed.
				if pkm.ReplyRequested {
					if err := sendStatus(time.Now()); err != nil {
						return err
					}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return fmt.Errorf("parse XLogData: %w", err)
				}
				r.metrics.received(capture.LSN(xld.WALStart))
				out, err := r.decode(dec, counters, capture.LSN(xld.WALStart), xld.WALData)
				if err != nil {
					return err
				}
				if out == nil {
					continue
				}
				if len(cur) == 0 {
					curSince = now
				}
				cur = append(cur, out)
				curBytes += len(xld.WALData)
				switch out.(type) {
				case *capture.Commit, *capture.Marker:
					boundary = true
				default:
					boundary = false
				}
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("replication on slot %q: %w", r.cfg.Slot, pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			return fmt.Errorf("replication on slot %q: server ended the stream", r.cfg.Slot)
		}
	}
}

// boundaryLinger is how long a chunk that ends between transactions gathers
// more before it is handed to an idle handler: short enough to add no
// noticeable latency, long enough that a busy stream of small transactions
// travels in chunks of many transactions.
const boundaryLinger = time.Millisecond

// readDeadline is the replication connection's read deadline, set on the
// net.Conn only when it changes.
type readDeadline struct {
	conn net.Conn
	at   time.Time
}

func (d *readDeadline) set(t time.Time) error {
	if t.Equal(d.at) {
		return nil
	}
	if err := d.conn.SetReadDeadline(t); err != nil {
		return fmt.Errorf("set read deadline: %w", err)
	}
	d.at = t
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
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
				r.dropSlot = !r.cfg.Temporary
				return nil, fmt.Errorf("met the marker of snapshot epoch %d at %s: %w", sm.Epoch, lsn, errResnapshot)
			}
			// The epoch this process handed on: confirming past the marker
			// says the snapshot is durable.
			return &capture.Marker{Kind: capture.MarkerHeartbeat, LSN: lsn + 1, Time: time.Now().UTC()}, nil
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

package replication

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/snapshot"
)

// runtimeParams are pinned on the replication connection so that pgoutput
// prints values the same way whatever the database's own settings are, and
// so that a database's own timeouts cannot end the session: the connection
// that exported the snapshot sits idle in its transaction until every
// snapshot reader has imported it, and CREATE_REPLICATION_SLOT may wait long
// for running transactions.
var runtimeParams = map[string]string{
	"DateStyle":          "ISO",
	"IntervalStyle":      "postgres",
	"extra_float_digits": "3",
	"TimeZone":           "UTC",
	"bytea_output":       "hex",
	"lc_monetary":        "C",

	"statement_timeout":                   "0",
	"idle_in_transaction_session_timeout": "0",
	"idle_session_timeout":                "0",
}

// Reader streams a database's changes from a logical replication slot to a
// handler. Create it with New and start it with Run; Confirm tells it what the
// consumer has durably handled.
type Reader struct {
	cfg     Config
	log     *slog.Logger
	snapLog *slog.Logger
	metrics *Metrics
	snap    *snapshot.Snapshotter

	// retrySince is when the sessions began to fail, in Unix nanoseconds;
	// 0 while a session is up (or none has failed).
	retrySince atomic.Int64

	mu sync.Mutex
	// given is the last confirmable position (a Commit's EndLSN, a heartbeat's
	// LSN) handed to the handler; Confirm never goes past it.
	given capture.LSN
	// confirmed is the consumer's watermark: what status updates report.
	confirmed capture.LSN
	// done is the last confirmable position of a chunk the handler returned
	// from: a reconnect within this process resumes there, so nothing is
	// handed on twice.
	done   capture.LSN
	notify chan struct{} // Confirm wakes the streaming loop; capacity 1

	// Owned by Run's goroutine.
	epochDone uint64 // the snapshot epoch this process handed on in full
	lease     *Lease // nil: no lease (WithLease)
	dropSlot  bool   // the next session drops the slot first (re-snapshot)
	tableOIDs map[uint32]bool
	// failover is this session's server as ReadFailover saw it at the
	// start (Config.FailoverSlot only); witness what the last session on a
	// primary verified of synchronized_standby_slots (promotion.go).
	failover *ServerFailover
	witness  *failoverWitness
	// source is the source of what the session hands on; identity, set
	// when a slot resumed across a promotion, moves it to the timeline that
	// wrote each position (crossTimeline).
	source   capture.Source
	identity *identityPlan
	// server is the server of the last session that reached its slot;
	// resumedOn the server on which a slot was resumed across a promotion.
	server, resumedOn capture.Source
}

// New returns a Reader for cfg. A nil log discards, a nil m records nothing.
// It connects to nothing and starts nothing.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if _, err := pgconn.ParseConfig(cfg.DSN); err != nil {
		return nil, fmt.Errorf("parse source DSN: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	snapLog := log.With("slot", cfg.Slot) // the snapshot adds its own component
	log = log.With("component", "capture", "slot", cfg.Slot)
	snap, err := snapshot.New(cfg.Snapshot, snapLog, nil)
	if err != nil {
		return nil, err
	}
	return &Reader{cfg: cfg, log: log, snapLog: snapLog, metrics: m, snap: snap, notify: make(chan struct{}, 1)}, nil
}

// WithSnapshotMetrics makes the Reader's snapshots record sm. Call it before Run.
func (r *Reader) WithSnapshotMetrics(sm *snapshot.Metrics) error {
	snap, err := snapshot.New(r.cfg.Snapshot, r.snapLog, sm)
	if err != nil {
		return err
	}
	r.snap = snap
	return nil
}

// WithLease makes every replication session wait until this process holds
// l, and end the slot's stale walsenders first; a session that finds l
// lost to another instance ends Run with an error wrapping ErrLeaseLost.
// The caller runs l (Lease.Run) and starts Run once l is acquired. Call it
// before Run.
func (r *Reader) WithLease(l *Lease) {
	r.lease = l
	// A standby that cannot reach the source reports it as the Reader
	// does (RetryingSince, cdcflow_capture_retrying_since_timestamp_seconds).
	l.mu.Lock()
	l.onRetrying = r.retrying
	l.mu.Unlock()
}

// Confirm records that the consumer has durably handled everything up to lsn:
// a Commit's EndLSN or a heartbeat Marker's LSN it was handed. The Reader
// reports it to PostgreSQL (write = flush = apply = lsn) in its next status
// update, soon after; it never reports a position past the last one handed
// on, nor moves backwards. Confirm is safe for concurrent use, never blocks,
// and may be called from inside the handler.
func (r *Reader) Confirm(lsn capture.LSN) {
	r.mu.Lock()
	lsn = min(lsn, r.given)
	advanced := lsn > r.confirmed
	if advanced {
		r.confirmed = lsn
	}
	r.mu.Unlock()
	if advanced {
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
}

// Confirmed returns the watermark the Reader reports to PostgreSQL.
func (r *Reader) Confirmed() capture.LSN {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.confirmed
}

// startSlot sets the positions for a session on a slot whose stream starts
// at slotLSN (its confirmed_flush_lsn, or its consistent point when fresh)
// and returns where streaming resumes: after what this process already
// handed on, when it did so on this slot.
func (r *Reader) startSlot(slotLSN capture.LSN, fresh bool) capture.LSN {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fresh || r.done < slotLSN {
		r.done, r.given, r.confirmed = slotLSN, slotLSN, slotLSN
	}
	r.confirmed = max(r.confirmed, slotLSN)
	r.given = max(r.given, r.confirmed)
	return r.done
}

// errStop ends Run without error (initial_only after its snapshot).
var errStop = errors.New("stop")

// fatalError marks an error that retrying cannot cure.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func fatal(err error) error { return &fatalError{err} }

// Run captures until ctx is done or a fatal error occurs, and hands every
// message to h, in WAL order, in bounded chunks: a Connected at the start of
// each replication session, then (for a new slot under SnapshotInitial) the
// snapshot epoch's markers and rows, then Begin, Change, Commit and Marker
// messages. A transaction interrupted by a reconnect is handed on again, whole,
// after the next Connected.
//
// h runs on a goroutine of Run's, one call at a time; it may block as long as
// it likes (backpressure): meanwhile the Reader stops reading WAL but keeps
// the connection alive with status updates. An error from h ends Run with
// that error. Connection failures, a slot still held by an old walsender and
// server restarts are retried with capped exponential backoff and jitter; a
// new session starts only after the handler call in progress returned.
//
// Run returns ctx.Err() after a shutdown, nil when SnapshotInitialOnly has
// handed on its snapshot, and otherwise the fatal error (handler error,
// ErrSlotLost, a NotReadyError, a SlotCreateBlockedError, ...). Run must not
// be called twice at once.
func (r *Reader) Run(ctx context.Context, h capture.Handler) error {
	b := backpressure.Backoff{Initial: r.cfg.ReconnectMin, Max: r.cfg.ReconnectMax}
	attempt := 0
	for {
		start := time.Now()
		err := r.session(ctx, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errStop) {
			return nil
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			return fe.err
		}
		if permanent(err) {
			return err
		}
		if time.Since(start) > time.Minute { // a session that ran counts as a success
			b.Reset()
			attempt = 0
		}
		attempt++
		wait := b.Next()
		since := r.RetryingSince()
		if since.IsZero() {
			since = time.Now()
			r.retrying(since)
		}
		r.log.Warn("replication session ended, reconnecting", "err", err, "attempt", attempt, "retry_in", wait,
			"retrying_since", since.UTC().Format(time.RFC3339))
		r.metrics.reconnect()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// connect opens a normal connection to the source database.
func (r *Reader) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(r.cfg.DSN)
	if err != nil {
		return nil, fatal(fmt.Errorf("parse source DSN: %w", err))
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = r.cfg.ApplicationName
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classifyConnect(fmt.Errorf("connect to source: %w", err))
	}
	return conn, nil
}

// readBufferSize is the replication connection's read buffer. pgproto3
// reads through an 8 KiB buffer; while the Reader catches up with a backlog
// the socket holds far more, and a larger buffer takes it in fewer read(2)
// calls (a CopyData message of a small row is about 100 to 300 bytes).
const readBufferSize = 64 << 10

// connectReplication opens the logical replication connection. It reads the
// socket through a readBufferSize buffer (the connection is never hijacked,
// so pgconn's SyncConn, which cannot see that buffer, is not used).
func (r *Reader) connectReplication(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(r.cfg.DSN)
	if err != nil {
		return nil, fatal(fmt.Errorf("parse source DSN: %w", err))
	}
	cfg.RuntimeParams["replication"] = "database"
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = r.cfg.ApplicationName
	}
	for k, v := range runtimeParams {
		cfg.RuntimeParams[k] = v
	}
	if r.cfg.WALSenderTimeout > 0 {
		cfg.RuntimeParams["wal_sender_timeout"] = strconv.FormatInt(r.cfg.WALSenderTimeout.Milliseconds(), 10)
	}
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(r, readBufferSize), w)
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classifyConnect(fmt.Errorf("open replication connection: %w", err))
	}
	return conn, nil
}

// session runs one replication session: connect, find or create the slot,
// snapshot if it is new, then stream until an error.
func (r *Reader) session(ctx context.Context, h capture.Handler) (err error) {
	if r.lease != nil {
		// Only the lease holder touches the slot, and any walsender still
		// on it is stale (see Lease.fence).
		if err := r.lease.fence(ctx, r.cfg.Slot, exporterName(r.cfg.Slot)); err != nil {
			if errors.Is(err, ErrLeaseLost) {
				return fatal(fmt.Errorf("replication session on slot %q: %w", r.cfg.Slot, err))
			}
			return err
		}
	}
	rconn, err := r.connectReplication(ctx)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		rconn.Close(cctx)
	}()
	sys, err := pglogrepl.IdentifySystem(ctx, rconn)
	if err != nil {
		return fmt.Errorf("identify system: %w", err)
	}
	src := capture.Source{SystemID: sys.SystemID, Timeline: sys.Timeline, Database: sys.DBName}

	conn, err := r.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	r.failover, r.identity = nil, nil
	if r.cfg.FailoverSlot {
		sf, err := readFailover(ctx, conn, r.cfg.Slot)
		if err != nil {
			return err
		}
		if !sf.Supported() {
			return fatal(fmt.Errorf("%w: capture is configured with a failover slot (source.failover_slot) and the source runs PostgreSQL %s (server_version_num %d); upgrade it to 17 or later, or turn source.failover_slot off",
				ErrFailoverUnsupported, sf.Version, sf.VersionNum))
		}
		r.failover = &sf
	}
	tables, columns, err := r.prepareTables(ctx, conn)
	if err != nil {
		return err
	}

	slot, created, newSource, err := r.prepareSlot(ctx, rconn, conn, src)
	if err != nil {
		return err
	}
	r.server = src
	alterFailoverSlot := false
	if r.cfg.FailoverSlot {
		if alterFailoverSlot, err = r.checkFailover(ctx, conn, src); err != nil {
			return err
		}
	}
	start := r.startSlot(slot, created != nil)
	r.source = src
	if r.identity != nil {
		r.source = r.identity.sourceAt(src, start)
	}
	log := r.log.With("system_id", src.SystemID, "timeline", src.Timeline)
	if err := h(ctx, []capture.Message{&capture.Connected{Source: r.source, StartLSN: start, NewSource: newSource}}); err != nil {
		return fatal(err)
	}
	r.retrying(time.Time{}) // a session is up

	if created != nil && created.snapshotName != "" {
		if err := r.snapshot(ctx, created, tables, columns, h, log); err != nil {
			return err
		}
		if r.cfg.SnapshotMode == SnapshotInitialOnly {
			return errStop
		}
	}
	if created != nil && created.exporter != "" && created.exporter != r.cfg.Slot {
		if err := pglogrepl.DropReplicationSlot(ctx, rconn, created.exporter, pglogrepl.DropReplicationSlotOptions{}); err != nil {
			return fmt.Errorf("drop snapshot slot %q: %w", created.exporter, err)
		}
	}
	if alterFailoverSlot {
		if err := alterFailover(ctx, rconn, r.cfg.Slot); err != nil {
			return err
		}
		log.Info("slot set as a failover slot")
	}
	log.Info("replication starting", "start_lsn", start, "new_slot", created != nil)
	return r.stream(ctx, rconn, conn, start, h)
}

// prepareTables resolves the configured tables (their OIDs filter the
// stream) and, unless the mode only snapshots, ensures the publication and
// reads its column lists.
func (r *Reader) prepareTables(ctx context.Context, conn *pgx.Conn) ([]table, map[TableName][]string, error) {
	tables, err := resolveTables(ctx, conn, r.cfg.Tables)
	if err != nil {
		return nil, nil, fatal(err)
	}
	r.tableOIDs = make(map[uint32]bool, len(tables))
	for _, t := range tables {
		r.tableOIDs[t.oid] = true
	}
	if r.cfg.SnapshotMode == SnapshotInitialOnly {
		return tables, nil, nil
	}
	if err := ensurePublication(ctx, conn, r.cfg.Publication, tables); err != nil {
		if errors.As(err, new(*NotReadyError)) {
			return nil, nil, fatal(err)
		}
		return nil, nil, err
	}
	columns, err := publicationColumns(ctx, conn, r.cfg.Publication)
	if err != nil {
		return nil, nil, err
	}
	return tables, columns, nil
}

// snapshot hands on the snapshot epoch of a slot just created, read through
// the snapshot it exported.
func (r *Reader) snapshot(ctx context.Context, created *createdSlot, tables []table, columns map[TableName][]string, h capture.Handler, log *slog.Logger) error {
	epoch := uint64(created.consistentPoint)
	specs := make([]snapshot.Table, len(tables))
	for i, t := range tables {
		specs[i] = snapshot.Table{OID: t.oid, Columns: columns[t.name]}
	}
	log.Info("snapshot starting", "epoch", epoch, "consistent_point", created.consistentPoint)
	var herr error
	hand := func(ctx context.Context, msgs []capture.Message) error {
		if err := h(ctx, msgs); err != nil {
			herr = err
			return err
		}
		return nil
	}
	if err := r.snap.Run(ctx, r.cfg.DSN, created.snapshotName, specs, epoch, created.consistentPoint-1, hand); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if herr != nil {
			return fatal(herr)
		}
		// The slot's snapshot can never be read again: start over.
		r.dropSlot = !r.cfg.Temporary && r.cfg.SnapshotMode == SnapshotInitial
		return fmt.Errorf("snapshot epoch %d: %w", epoch, err)
	}
	r.epochDone = epoch
	return nil
}

// prepareSlot finds the configured slot, dealing with lost and re-snapshot
// slots, or creates it. It returns the stream's start (confirmed_flush_lsn or
// consistent point) and, for a new slot, what creation returned.
func (r *Reader) prepareSlot(ctx context.Context, rconn *pgconn.PgConn, conn *pgx.Conn, src capture.Source) (capture.LSN, *createdSlot, bool, error) {
	if r.cfg.SnapshotMode == SnapshotInitialOnly {
		c, err := r.createSlot(ctx, rconn, conn, src)
		if err != nil {
			return 0, nil, false, classifyCreate(err)
		}
		return c.consistentPoint, &c, false, nil
	}
	info, err := lookupSlot(ctx, conn, r.cfg.Slot)
	if err != nil {
		return 0, nil, false, err
	}
	newSource := false
	if info.exists {
		switch {
		case info.plugin != "pgoutput":
			return 0, nil, false, fatal(fmt.Errorf("slot %q uses plugin %q, not pgoutput: drop it (SELECT pg_drop_replication_slot('%s')) or configure another slot name", r.cfg.Slot, info.plugin, r.cfg.Slot))
		case info.database != src.Database:
			return 0, nil, false, fatal(fmt.Errorf("slot %q belongs to database %q, not %q: configure another slot name", r.cfg.Slot, info.database, src.Database))
		case info.activePID != 0:
			return 0, nil, false, fmt.Errorf("%w: slot %q is held by walsender pid %d (retrying until it times out or is terminated: SELECT pg_terminate_backend(%d))", ErrSlotActive, r.cfg.Slot, info.activePID, info.activePID)
		case info.walStatus == "lost":
			if !r.cfg.DropLostSlot {
				return 0, nil, false, fatal(fmt.Errorf("%w: PostgreSQL invalidated slot %q (wal_status = lost: it retained more WAL than max_slot_wal_keep_size allows) and the changes it had not delivered are gone; drop it to start over with a new snapshot (SELECT pg_drop_replication_slot('%s')), or set capture.drop_lost_slot", ErrSlotLost, r.cfg.Slot, r.cfg.Slot))
			}
			r.log.Warn("slot lost, dropping it and starting a new snapshot epoch", "wal_status", info.walStatus)
			r.dropSlot = true
		case r.dropSlot:
			r.log.Warn("dropping slot whose snapshot epoch never completed")
		default:
			hist, changed, err := timelineChanged(ctx, rconn, src.Timeline, info.confirmedFlush)
			if err != nil {
				return 0, nil, false, err
			}
			if !changed {
				break
			}
			p := promotion{Configured: r.cfg.FailoverSlot, Source: src, Confirmed: info.confirmedFlush, Witness: r.witness, Hist: hist,
				Resumed:     r.resumedOn == src,
				StreamedOld: r.server.SystemID == src.SystemID && r.server.Timeline < src.Timeline}
			if r.failover != nil {
				p.Server = *r.failover
			}
			if r.cfg.Published != nil {
				if uri, lsn, ok := r.cfg.Published(); ok {
					p.Published = &published{Source: uri, LSN: lsn}
				}
			}
			keep, why := keepIdentity(p)
			if keep {
				r.identity = &identityPlan{hist: hist, tl: src.Timeline}
				r.resumedOn = src
				if from := resumeFrom(p); from > info.confirmedFlush {
					r.log.Info("failover slot resumes at the switch point: what precedes it is durable downstream",
						"confirmed_flush_lsn", info.confirmedFlush, "switch_lsn", from)
					info.confirmedFlush = from
				}
				r.log.Info("failover slot resumes on the promoted server as the same source: no new snapshot; positions before the switch keep their timeline, so their events keep their ids",
					"confirmed_flush_lsn", info.confirmedFlush, "slot_timeline", timelineAt(hist, src.Timeline, info.confirmedFlush), "standby_slot", p.Server.PrimarySlotName)
				break
			}
			newSource = true
			if r.cfg.SnapshotMode == SnapshotInitial {
				r.log.Warn("slot position predates the current timeline (restore, point-in-time recovery or promotion): starting a new snapshot epoch",
					"confirmed_flush_lsn", info.confirmedFlush, "why_not_resumed", why)
				r.dropSlot = true
			} else {
				r.log.Warn("slot position predates the current timeline (restore, point-in-time recovery or promotion): streaming on as a new source",
					"confirmed_flush_lsn", info.confirmedFlush, "why_not_resumed", why)
			}
		}
		if r.dropSlot {
			if err := dropSlot(ctx, conn, r.cfg.Slot); err != nil {
				return 0, nil, false, err
			}
			r.dropSlot = false
			info.exists = false
		}
	}
	if info.exists {
		return info.confirmedFlush, nil, newSource, nil
	}
	c, err := r.createSlot(ctx, rconn, conn, src)
	if err != nil {
		return 0, nil, false, classifyCreate(err)
	}
	r.log.Info("slot created", "consistent_point", c.consistentPoint, "snapshot", c.snapshotName != "")
	return c.consistentPoint, &c, newSource, nil
}

// permanent reports whether err is a server error that retrying cannot cure:
// a missing privilege or object, a syntax error, an unsupported feature,
// failed authentication, a database that does not exist.
// A dropped slot (undefined_object 42704) is not: the next session creates it.
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code == "42704" {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "42") || strings.HasPrefix(pgErr.Code, "28") ||
		pgErr.Code == "0A000" || pgErr.Code == "3D000"
}

// classifyCreate makes a blocked slot creation fatal: waiting again would
// only wait for the same transactions.
func classifyCreate(err error) error {
	if errors.As(err, new(*SlotCreateBlockedError)) {
		return fatal(err)
	}
	return err
}

// timelineChanged reports whether a slot confirmed up to lsn was last used on
// an earlier timeline than tl: its position is at or before the point where
// the current timeline branched off. It returns the timeline's history too.
func timelineChanged(ctx context.Context, rconn *pgconn.PgConn, tl int32, lsn capture.LSN) ([]tlSwitch, bool, error) {
	if tl <= 1 {
		return nil, false, nil
	}
	th, err := pglogrepl.TimelineHistory(ctx, rconn, tl)
	if err != nil {
		return nil, false, fmt.Errorf("read timeline %d history: %w", tl, err)
	}
	switchPoint, err := lastSwitchPoint(th.Content)
	if err != nil {
		return nil, false, fmt.Errorf("read timeline %d history: %w", tl, err)
	}
	hist, err := parseHistory(th.Content)
	if err != nil {
		return nil, false, fmt.Errorf("read timeline %d history: %w", tl, err)
	}
	return hist, lsn <= switchPoint, nil
}

// lastSwitchPoint returns the switch point of the last line of a timeline
// history file ("<parent tli>\t<switch lsn>\t<reason>").
func lastSwitchPoint(content []byte) (capture.LSN, error) {
	var last capture.LSN
	found := false
	for _, line := range strings.Split(string(content), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue
		}
		lsn, err := capture.ParseLSN(f[1])
		if err != nil {
			return 0, err
		}
		last, found = lsn, true
	}
	if !found {
		return 0, errors.New("no switch point in history file")
	}
	return last, nil
}

// RetryingSince returns when the replication sessions began to fail, while
// Run is reconnecting to a source it could reach before or that is starting
// up; the zero time while a session is up, or before any failed. It is safe
// to call from any goroutine: readiness probes use it.
func (r *Reader) RetryingSince() time.Time {
	if n := r.retrySince.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// retrying records since when the sessions fail (zero: a session is up).
func (r *Reader) retrying(since time.Time) {
	var n int64
	if !since.IsZero() {
		n = since.UnixNano()
	}
	r.retrySince.Store(n)
	r.metrics.retrying(since)
}

package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgvalue"
)

// Config configures a Snapshotter. The zero value is ready to use.
type Config struct {
	// ChunkRows is the most rows handed to the handler in one call, and the
	// page size of the keyset queries. It bounds the snapshot's memory. Default 10000.
	ChunkRows int
	// Progress, when not nil, receives a report after every chunk handed on
	// and at the end of every table, on Run's goroutine; it must not block
	// for long. The snapshot draws nothing itself (internal/progress draws
	// cdcflow's displays).
	Progress func(Progress)
	// ApplicationName is the application_name of the snapshot's connection.
	// Default "cdcflow-snapshot".
	ApplicationName string
	// Now returns the current time, used only for Progress's Elapsed. Default time.Now.
	Now func() time.Time
}

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	if c.ChunkRows < 0 {
		return fmt.Errorf("snapshot chunk rows %d: must not be negative", c.ChunkRows)
	}
	return nil
}

// Table names a table to snapshot.
type Table struct {
	// OID is the table's pg_class OID. A partitioned table is read through its
	// root: the rows of every partition, described by the root's Relation, as
	// pgoutput sends them under publish_via_partition_root.
	OID uint32
	// Columns is the publication's column list for the table (PostgreSQL 15
	// CREATE PUBLICATION ... FOR TABLE t (a, b)), unquoted names as in the
	// catalog; nil reads every column. As with pgoutput, the Relation keeps the
	// table's column order whatever the order of the list.
	Columns []string
}

// Snapshotter reads consistent snapshots of tables. It holds only its
// configuration: every Run opens and owns its own connection, so a Snapshotter
// is safe for concurrent use.
type Snapshotter struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
}

// DefaultChunkRows is Config.ChunkRows when it is zero.
const DefaultChunkRows = 10000

// New returns a Snapshotter. A nil log discards, a nil m records no metrics.
// It starts nothing.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Snapshotter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ChunkRows == 0 {
		cfg.ChunkRows = DefaultChunkRows
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = "cdcflow-snapshot"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Snapshotter{cfg: cfg, log: log.With("component", "snapshot"), metrics: m}, nil
}

// sessionParams are pinned on the snapshot connection so that values print
// exactly as the replication connection's pgoutput prints them, and so that a
// reader paused by backpressure is never timed out.
var sessionParams = map[string]string{
	"DateStyle":                           "ISO",
	"IntervalStyle":                       "postgres",
	"extra_float_digits":                  "3",
	"TimeZone":                            "UTC",
	"bytea_output":                        "hex",
	"lc_monetary":                         "C",
	"idle_in_transaction_session_timeout": "0",
	"statement_timeout":                   "0",
}

// Run reads tables as of the exported snapshot snapshotName and hands them to
// h, in order: a MarkerSnapshotBegin{Epoch: epoch, LSN: lsn, Tables}, then each
// table's rows as OpRead changes in chunks of at most ChunkRows, then a
// MarkerSnapshotEnd. Each row is a Change with FinalLSN lsn (the caller passes
// the slot's consistent point - 1), Epoch epoch, and Index counting the rows of
// the whole epoch from 0.
//
// The snapshot has one clock value: now() of the reading transaction, which
// starts right after the slot exported its snapshot. It is every row's
// CommitTime and the markers' Time.
//
// dsn is a normal (not replication) connection string to the slot's database;
// the exporting replication connection must stay open and idle until Run has
// imported the snapshot (its first statements). Run blocks until every table is
// read, h returns an error, or ctx is done; it returns ctx's error when
// cancelled. h may block for as long as it likes: the transaction waits.
func (s *Snapshotter) Run(ctx context.Context, dsn, snapshotName string, tables []Table, epoch uint64, lsn capture.LSN, h capture.Handler) error {
	if !validSnapshotName(snapshotName) {
		return fmt.Errorf("import snapshot %q: not an exported snapshot name", snapshotName)
	}
	conn, err := s.connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx) // the read-only transaction needs no commit
	}()

	// SET TRANSACTION SNAPSHOT must be the transaction's first statement.
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("begin snapshot transaction: %w", err)
	}
	if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snapshotName+"'"); err != nil {
		return fmt.Errorf("import snapshot %q: %w", snapshotName, err)
	}
	var at time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&at); err != nil {
		return fmt.Errorf("read snapshot time: %w", err)
	}
	at = at.UTC()

	ts := make([]*table, len(tables))
	rels := make([]*capture.Relation, len(tables))
	for i, spec := range tables {
		if ts[i], err = loadTable(ctx, conn, spec); err != nil {
			return err
		}
		rels[i] = ts[i].rel
	}

	r := &run{
		s:     s,
		conn:  conn,
		h:     h,
		epoch: epoch,
		lsn:   lsn,
		at:    at,
		prog:  &progress{report: s.cfg.Progress, now: s.cfg.Now, p: Progress{Tables: len(ts)}},
		msgs:  make([]capture.Message, 0, s.cfg.ChunkRows),
	}
	s.log.Info("snapshot started", "epoch", epoch, "lsn", lsn, "tables", len(ts))
	s.metrics.addTablesRemaining(len(ts))
	s.metrics.start(ts)
	remaining := len(ts)
	defer func() {
		s.metrics.addTablesRemaining(-remaining)
		s.metrics.finish(ts[len(ts)-remaining:]...)
	}()

	begin := &capture.Marker{Kind: capture.MarkerSnapshotBegin, Epoch: epoch, LSN: lsn, Time: at, Tables: rels}
	if err := h(ctx, []capture.Message{begin}); err != nil {
		return fmt.Errorf("hand on snapshot begin: %w", err)
	}
	for _, t := range ts {
		start := time.Now()
		before := r.index
		if err := r.readTable(ctx, t); err != nil {
			return fmt.Errorf("snapshot %s: %w", t.rel.QualifiedName(), err)
		}
		remaining--
		s.metrics.addTablesRemaining(-1)
		s.metrics.finish(t)
		s.log.Info("snapshot table read", "table", t.label, "rows", r.index-before, "duration", time.Since(start))
	}
	end := &capture.Marker{Kind: capture.MarkerSnapshotEnd, Epoch: epoch, LSN: lsn, Time: at, Tables: rels}
	if err := h(ctx, []capture.Message{end}); err != nil {
		return fmt.Errorf("hand on snapshot end: %w", err)
	}
	s.log.Info("snapshot finished", "epoch", epoch, "rows", r.index)
	return nil
}

// connect opens the snapshot's connection with the pinned session settings.
func (s *Snapshotter) connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse snapshot DSN: %w", err)
	}
	// A replication DSN opens a walsender, which cannot import a snapshot.
	delete(cfg.RuntimeParams, "replication")
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	cfg.RuntimeParams["application_name"] = s.cfg.ApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect for snapshot: %w", err)
	}
	return conn, nil
}

// validSnapshotName reports whether name looks like what
// pg_export_snapshot and CREATE_REPLICATION_SLOT return ("00000003-0000001B-1"):
// hex digits and dashes. The name is spliced into SQL, so nothing else passes.
func validSnapshotName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	return strings.Trim(name, "0123456789ABCDEFabcdef-") == ""
}

// run is the state of one Run: the connection, the running row counter and
// the chunk being filled.
type run struct {
	s     *Snapshotter
	conn  *pgx.Conn
	h     capture.Handler
	epoch uint64
	lsn   capture.LSN
	at    time.Time
	prog  *progress

	index uint64 // rows handed on so far in this epoch
	msgs  []capture.Message
	// slab hands out Values and Changes in blocks, to avoid an allocation per
	// row; the handler may retain the messages, so a block is never reused.
	values  []capture.Value
	changes []capture.Change
}

// readTable reads every row of t.
func (r *run) readTable(ctx context.Context, t *table) error {
	r.s.metrics.setEstimated(t.label, t.estimate)
	r.prog.begin(t.label, t.estimate)
	var err error
	if len(t.key) > 0 {
		err = r.readByKey(ctx, t)
	} else {
		err = r.readByCTID(ctx, t)
	}
	if err != nil {
		return err
	}
	if err := r.flush(ctx, t); err != nil {
		return err
	}
	r.prog.finish()
	return nil
}

// readByKey pages through t by its key: each query returns the next ChunkRows
// rows after the last key read, and is handed on as one chunk.
func (r *run) readByKey(ctx context.Context, t *table) error {
	limit := r.s.cfg.ChunkRows
	keyNames := make([]string, len(t.key))
	for i, k := range t.key {
		keyNames[i] = t.cols[k]
	}
	first := keysetQuery(t.src, t.cols, keyNames, false, limit)
	next := keysetQuery(t.src, t.cols, keyNames, true, limit)
	var after [][]byte // text of the last key read; nil before the first chunk
	var keyBuf []byte  // the current row's key text, and where each column ends in it
	var keyEnds []int
	for {
		sql, params, oids := first, [][]byte(nil), []uint32(nil)
		if after != nil {
			sql, params, oids = next, after, t.keyOIDs
		}
		rr := r.conn.PgConn().ExecParams(ctx, sql, params, oids, nil, nil)
		n := 0
		for rr.NextRow() {
			vals := rr.Values()
			if err := r.addRow(t, vals); err != nil {
				_, _ = rr.Close() // the decode error is the one to report
				return err
			}
			// Keep the key's text: the next chunk starts after it.
			keyBuf, keyEnds = keyBuf[:0], keyEnds[:0]
			for _, k := range t.key {
				keyBuf = append(keyBuf, vals[k]...)
				keyEnds = append(keyEnds, len(keyBuf))
			}
			n++
		}
		if _, err := rr.Close(); err != nil {
			return fmt.Errorf("read chunk: %w", err)
		}
		if err := r.flush(ctx, t); err != nil {
			return err
		}
		if n < limit {
			return nil
		}
		buf, start := bytes.Clone(keyBuf), 0
		after = make([][]byte, len(t.key))
		for i, end := range keyEnds {
			after[i], start = buf[start:end:end], end
		}
	}
}

// readByCTID scans t's heaps in page ranges sized to hold about ChunkRows
// rows. Rows stream from the server and are handed on every ChunkRows rows,
// so a range holding more rows than estimated costs no extra memory.
func (r *run) readByCTID(ctx context.Context, t *table) error {
	for _, hp := range t.heaps {
		perPage := hp.tuplesPerPage
		if perPage <= 0 {
			perPage = 100 // unknown before the first VACUUM/ANALYZE: assume small rows
		}
		step := max(int64(float64(r.s.cfg.ChunkRows)/perPage), 1)
		for from := int64(0); ; from += step {
			to := from + step
			if to >= hp.pages {
				to = -1 // the last range reads to the end
			}
			rr := r.conn.PgConn().ExecParams(ctx, ctidQuery(hp.src, t.cols, from, to), nil, nil, nil, nil)
			for rr.NextRow() {
				if err := r.addRow(t, rr.Values()); err != nil {
					_, _ = rr.Close()
					return err
				}
				if len(r.msgs) == cap(r.msgs) {
					if err := r.flush(ctx, t); err != nil {
						return err // the deferred Close of the connection ends the query
					}
				}
			}
			if _, err := rr.Close(); err != nil {
				return fmt.Errorf("read pages %d-%d of %s: %w", from, to, hp.src, err)
			}
			if to < 0 {
				break
			}
		}
	}
	return nil
}

// addRow decodes one row's text values into an OpRead change appended to the
// chunk. vals belongs to the connection and is only valid until the next row;
// pgvalue.Decode copies what it keeps.
func (r *run) addRow(t *table, vals [][]byte) error {
	if len(vals) != len(t.cols) {
		return fmt.Errorf("read row: got %d columns, want %d", len(vals), len(t.cols))
	}
	if r.index > math.MaxUint32 {
		return errors.New("read row: more than 2^32 rows in one snapshot epoch")
	}
	cols := t.rel.Columns
	if len(r.values) < len(cols) {
		r.values = make([]capture.Value, len(cols)*min(r.s.cfg.ChunkRows, 256))
	}
	newVals := r.values[:len(cols):len(cols)]
	r.values = r.values[len(cols):]
	for i, col := range cols {
		if vals[i] == nil {
			newVals[i] = capture.Value{Kind: capture.KindNull}
			continue
		}
		v, err := pgvalue.Decode(col, vals[i])
		if err != nil {
			return fmt.Errorf("read row: %w", err) // names the column and type, quotes only an excerpt
		}
		newVals[i] = v
	}

	if len(r.changes) == 0 {
		r.changes = make([]capture.Change, min(r.s.cfg.ChunkRows, 256))
	}
	c := &r.changes[0]
	r.changes = r.changes[1:]
	*c = capture.Change{
		Op:         capture.OpRead,
		FinalLSN:   r.lsn,
		Index:      uint32(r.index),
		CommitTime: r.at,
		Relation:   t.rel,
		New:        newVals,
		Epoch:      r.epoch,
	}
	r.index++
	r.msgs = append(r.msgs, c)
	return nil
}

// flush hands the chunk to the handler, which may block.
func (r *run) flush(ctx context.Context, t *table) error {
	if len(r.msgs) == 0 {
		return nil
	}
	n := len(r.msgs)
	if err := r.h(ctx, r.msgs); err != nil {
		return fmt.Errorf("hand on chunk: %w", err)
	}
	clear(r.msgs) // the handler must not retain msgs; drop our references
	r.msgs = r.msgs[:0]
	r.s.metrics.addRows(t.label, n)
	r.prog.add(n)
	return nil
}

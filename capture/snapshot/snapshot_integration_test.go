package snapshot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgvalue"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// exported is a logical slot created with an exported snapshot. The snapshot
// stays importable while conn stays open and idle.
type exported struct {
	conn *pgconn.PgConn
	slot string
	name string      // the snapshot's name
	lsn  capture.LSN // the slot's consistent point
}

var slotSeq atomic.Int64

// exportSnapshot creates a temporary pgoutput slot on a replication
// connection, as capture/replication does, and keeps the connection open
// until the test ends.
func exportSnapshot(t *testing.T, db *testenv.DB) exported {
	t.Helper()
	cfg, err := pgconn.ParseConfig(db.ReplicationDSN)
	if err != nil {
		t.Fatal(err)
	}
	// The walsender holds the exported snapshot in an open transaction: a
	// database's idle_in_transaction_session_timeout would end it.
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = "0"
	conn, err := pgconn.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("connect for replication: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	slot := fmt.Sprintf("snapshot_test_%d", slotSeq.Add(1))
	res, err := pglogrepl.CreateReplicationSlot(t.Context(), conn, slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Temporary:      true,
		SnapshotAction: "EXPORT_SNAPSHOT",
		Mode:           pglogrepl.LogicalReplication,
	})
	if err != nil {
		t.Fatalf("create slot %s: %v", slot, err)
	}
	lsn, err := capture.ParseLSN(res.ConsistentPoint)
	if err != nil {
		t.Fatal(err)
	}
	return exported{conn: conn, slot: slot, name: res.SnapshotName, lsn: lsn}
}

// oid returns the OID of a table given as SQL (quoted as needed).
func oid(t *testing.T, db *testenv.DB, table string) uint32 {
	t.Helper()
	return testenv.QueryValue[uint32](t, db, "SELECT $1::regclass::oid", table)
}

// recorder is a handler that keeps every message and the size of each chunk.
type recorder struct {
	msgs   []capture.Message
	chunks []int
	// onChunk, when set, runs before a chunk of changes is recorded.
	onChunk func(ctx context.Context, n int) error
}

func (r *recorder) handle(ctx context.Context, msgs []capture.Message) error {
	if r.onChunk != nil {
		if _, ok := msgs[0].(*capture.Change); ok {
			if err := r.onChunk(ctx, len(msgs)); err != nil {
				return err
			}
		}
	}
	r.chunks = append(r.chunks, len(msgs))
	r.msgs = append(r.msgs, msgs...)
	return nil
}

// checkStream checks the markers around the changes and the changes'
// positions, and returns the changes.
func checkStream(t *testing.T, msgs []capture.Message, epoch uint64, lsn capture.LSN, tables int) []*capture.Change {
	t.Helper()
	if len(msgs) < 2 {
		t.Fatalf("got %d messages; want at least the two markers", len(msgs))
	}
	begin, ok1 := msgs[0].(*capture.Marker)
	end, ok2 := msgs[len(msgs)-1].(*capture.Marker)
	if !ok1 || !ok2 || begin.Kind != capture.MarkerSnapshotBegin || end.Kind != capture.MarkerSnapshotEnd {
		t.Fatalf("first and last messages = %#v, %#v; want snapshot begin and end markers", msgs[0], msgs[len(msgs)-1])
	}
	for _, m := range []*capture.Marker{begin, end} {
		if m.Epoch != epoch || m.LSN != lsn || len(m.Tables) != tables || m.Time.IsZero() {
			t.Errorf("%s marker: epoch %d, LSN %s, %d tables, time %v; want %d, %s, %d, non-zero",
				m.Kind, m.Epoch, m.LSN, len(m.Tables), m.Time, epoch, lsn, tables)
		}
	}
	var changes []*capture.Change
	for i, m := range msgs[1 : len(msgs)-1] {
		c, ok := m.(*capture.Change)
		if !ok {
			t.Fatalf("message %d = %T; want *capture.Change", i+1, m)
		}
		if c.Op != capture.OpRead || c.FinalLSN != lsn || c.Epoch != epoch || c.Index != uint32(i) ||
			!c.CommitTime.Equal(begin.Time) || c.Relation == nil || len(c.New) != len(c.Relation.Columns) {
			t.Fatalf("change %d: op %s, LSN %s, epoch %d, index %d, time %v, %d values; want read, %s, %d, %d, %v, one per column",
				i, c.Op, c.FinalLSN, c.Epoch, c.Index, c.CommitTime, len(c.New), lsn, epoch, i, begin.Time)
		}
		changes = append(changes, c)
	}
	return changes
}

// render prints a row's values for comparison.
func render(vals []capture.Value) string {
	var b strings.Builder
	for _, v := range vals {
		switch d := v.Data.(type) {
		case []byte, json.RawMessage:
			fmt.Fprintf(&b, "%d:%T:%q|", v.Kind, d, d)
		default:
			fmt.Fprintf(&b, "%d:%T:%v|", v.Kind, d, d)
		}
	}
	return b.String()
}

// pinned are the session settings the snapshot (and the stream) pin.
var pinned = map[string]string{
	"DateStyle": "ISO", "IntervalStyle": "postgres", "extra_float_digits": "3",
	"TimeZone": "UTC", "bytea_output": "hex", "lc_monetary": "C",
}

// rowsInSnapshot reads every row of rel as of the exported snapshot in a
// transaction of its own, decoded with pgvalue, as a multiset of rendered rows.
func rowsInSnapshot(t *testing.T, db *testenv.DB, snapshotName string, rel *capture.Relation) map[string]int {
	t.Helper()
	ctx := t.Context()
	cfg, err := pgx.ParseConfig(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range pinned {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snapshotName+"'"); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range rel.Columns {
		cols = append(cols, capture.QuoteIdent(c.Name))
	}
	// Without ONLY: a partitioned root returns its partitions' rows, and the
	// test tables have no inheritance children.
	rr := conn.PgConn().ExecParams(ctx, "SELECT "+strings.Join(cols, ",")+" FROM "+rel.QualifiedName(), nil, nil, nil, nil)
	rows := map[string]int{}
	for rr.NextRow() {
		vals := make([]capture.Value, len(rel.Columns))
		for i, text := range rr.Values() {
			if text == nil {
				vals[i] = capture.Value{Kind: capture.KindNull}
				continue
			}
			if vals[i], err = pgvalue.Decode(rel.Columns[i], text); err != nil {
				t.Fatalf("decode %s: %v", rel.QualifiedName(), err)
			}
		}
		rows[render(vals)]++
	}
	if _, err := rr.Close(); err != nil {
		t.Fatalf("read %s in snapshot: %v", rel.QualifiedName(), err)
	}
	return rows
}

const concurrentSchema = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE SCHEMA "Sales";
CREATE TABLE "Sales"."Order Lines" (
	"Region" text, "OrderId" bigint, "Amount" numeric(12,4), "Placed At" timestamptz,
	"Data" jsonb, "Note" text, feeling mood, qty posint, tags text[],
	PRIMARY KEY ("Region", "OrderId"));
CREATE TABLE audit (at timestamp, msg text, n int);
ALTER TABLE audit REPLICA IDENTITY FULL;
CREATE TABLE events (day date, id int, v text, PRIMARY KEY (day, id)) PARTITION BY RANGE (day);
CREATE TABLE events_a PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
CREATE TABLE events_b PARTITION OF events FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
CREATE TABLE logs (n int, line text) PARTITION BY RANGE (n);
CREATE TABLE logs_a PARTITION OF logs FOR VALUES FROM (0) TO (100);
CREATE TABLE logs_b PARTITION OF logs FOR VALUES FROM (100) TO (1000000);

INSERT INTO "Sales"."Order Lines"
SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g / 2, (g * 1.25)::numeric(12,4),
       timestamptz '2026-11-23 10:00:00+00' + g * interval '1 second',
       jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)),
       CASE WHEN g % 7 = 0 THEN NULL ELSE repeat('x', g % 50) END,
       (ARRAY['sad','ok','happy'])[g % 3 + 1]::mood, g + 1, ARRAY['t' || g, NULL]
FROM generate_series(0, 999) g;
INSERT INTO audit SELECT timestamp '2026-01-01' + g * interval '1 minute', 'row ' || g, g FROM generate_series(1, 700) g;
DELETE FROM audit WHERE n % 10 = 3;
INSERT INTO audit VALUES (NULL, NULL, NULL), (NULL, NULL, NULL); -- identical rows: a multiset
ANALYZE audit;
INSERT INTO events SELECT date '2026-01-01' + g, g, 'e' || g FROM generate_series(0, 299) g;
INSERT INTO logs SELECT g, 'line ' || g FROM generate_series(0, 199) g;
`

// write changes every table in small transactions until ctx is done, and
// counts the commits.
func write(ctx context.Context, pool interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, seed int64, commits *atomic.Int64) error {
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	for i := 0; ctx.Err() == nil; i++ {
		k := rng.IntN(500)
		stmts := []string{
			fmt.Sprintf(`INSERT INTO "Sales"."Order Lines" ("Region", "OrderId", "Amount") VALUES ('new', %d, -1)`, i),
			fmt.Sprintf(`UPDATE "Sales"."Order Lines" SET "Amount" = -1, "Note" = 'changed' WHERE "OrderId" = %d`, k),
			fmt.Sprintf(`DELETE FROM "Sales"."Order Lines" WHERE "Region" = 'us' AND "OrderId" = %d`, rng.IntN(500)),
			fmt.Sprintf(`INSERT INTO audit VALUES (now()::timestamp, 'after', %d)`, -i),
			fmt.Sprintf(`UPDATE audit SET msg = 'changed' WHERE n = %d`, rng.IntN(700)),
			fmt.Sprintf(`DELETE FROM audit WHERE n = %d`, rng.IntN(700)),
			fmt.Sprintf(`INSERT INTO events VALUES (date '2026-09-01' + %d %% 100, %d, 'after')`, i, 1000+i),
			fmt.Sprintf(`DELETE FROM events WHERE id = %d`, rng.IntN(300)),
			fmt.Sprintf(`UPDATE logs SET line = 'changed' WHERE n = %d`, rng.IntN(200)),
			fmt.Sprintf(`INSERT INTO logs VALUES (%d, 'after')`, 1000+i),
		}
		if _, err := pool.Exec(ctx, strings.Join(stmts, ";")); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		commits.Add(1)
	}
	return nil
}

// TestIntegrationSnapshotConsistentWithConcurrentWrites reads four tables
// (composite key with quoted mixed-case names, REPLICA IDENTITY FULL without a
// key, a partitioned table with and one without a key) while another session
// keeps inserting, updating and deleting, and checks that the snapshot holds
// exactly the rows as of the exported snapshot, each once.
func TestIntegrationSnapshotConsistentWithConcurrentWrites(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, concurrentSchema)
	tables := []string{`"Sales"."Order Lines"`, "audit", "events", "logs"}
	wantCounts := []int{1000, 632, 300, 200}
	var specs []snapshot.Table
	for _, name := range tables {
		specs = append(specs, snapshot.Table{OID: oid(t, db, name)})
	}

	exp := exportSnapshot(t, db)

	// Writers start after the export and go on during the whole read.
	ctx, stop := context.WithCancel(t.Context())
	var commits atomic.Int64
	var wg sync.WaitGroup
	pool := db.Conn(t) // the writer's own connection
	seed := testenv.Seed(t)
	wg.Go(func() {
		if err := write(ctx, pool, seed, &commits); err != nil {
			t.Errorf("concurrent writer: %v", err) // Await below then times out
		}
	})
	defer func() {
		stop()
		wg.Wait()
	}()

	const chunk = 37
	s, err := snapshot.New(snapshot.Config{ChunkRows: chunk}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var written int64
	rec.onChunk = func(ctx context.Context, n int) error {
		// Let the writers commit between every few chunks, so their changes
		// land in pages and key ranges not read yet.
		if len(rec.chunks)%10 == 0 {
			target := commits.Load() + 3
			testenv.Await(t, 30*time.Second, "concurrent commits", func() (bool, error) {
				return commits.Load() >= target, nil
			})
		}
		written = commits.Load()
		return nil
	}
	lsn := exp.lsn - 1
	if err := s.Run(t.Context(), db.DSN, exp.name, specs, 7, lsn, rec.handle); err != nil {
		t.Fatalf("Run: %v", err)
	}
	stop()
	wg.Wait()
	if written < 10 {
		t.Fatalf("only %d concurrent commits during the snapshot; the test proves nothing", written)
	}

	changes := checkStream(t, rec.msgs, 7, lsn, len(tables))
	if m := slices.Max(rec.chunks); m > chunk {
		t.Errorf("largest chunk held %d messages; want at most %d", m, chunk)
	}
	byTable := map[uint32]map[string]int{}
	rels := map[uint32]*capture.Relation{}
	for _, c := range changes {
		if byTable[c.Relation.OID] == nil {
			byTable[c.Relation.OID] = map[string]int{}
		}
		byTable[c.Relation.OID][render(c.New)]++
		rels[c.Relation.OID] = c.Relation
	}
	for i, spec := range specs {
		rel := rels[spec.OID]
		if rel == nil {
			t.Errorf("%s: no rows in the snapshot", tables[i])
			continue
		}
		got := byTable[spec.OID]
		n := 0
		for _, k := range got {
			n += k
		}
		if n != wantCounts[i] {
			t.Errorf("%s: %d rows in the snapshot; want %d (the rows before the export)", tables[i], n, wantCounts[i])
		}
		want := rowsInSnapshot(t, db, exp.name, rel)
		for row, k := range want {
			if got[row] != k {
				t.Errorf("%s: row %s read %d times; want %d", tables[i], row, got[row], k)
			}
		}
		for row, k := range got {
			if want[row] == 0 {
				t.Errorf("%s: row %s read %d times; it is not in the snapshot", tables[i], row, k)
			}
		}
	}
	t.Logf("%d rows in %d chunks while %d transactions committed", len(changes), len(rec.chunks)-2, written)
}

// TestIntegrationChunkBoundaries reads tables whose row counts fall on and
// next to chunk boundaries, by key and by ctid.
func TestIntegrationChunkBoundaries(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `
CREATE TABLE k0 (id int PRIMARY KEY);
CREATE TABLE k10 (id int PRIMARY KEY);
CREATE TABLE k11 (id int PRIMARY KEY);
CREATE TABLE c11 (id int); ALTER TABLE c11 REPLICA IDENTITY FULL;
INSERT INTO k10 SELECT generate_series(1, 10);
INSERT INTO k11 SELECT generate_series(1, 11);
INSERT INTO c11 SELECT generate_series(1, 11);`)
	tests := []struct {
		table      string
		chunkRows  int
		wantChunks []int
	}{
		{"k0", 5, nil},
		{"k10", 5, []int{5, 5}},
		{"k11", 5, []int{5, 5, 1}},
		{"k10", 1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"k11", 100, []int{11}},
		{"c11", 5, []int{5, 5, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s by %d", tt.table, tt.chunkRows), func(t *testing.T) {
			exp := exportSnapshot(t, db)
			reg := prometheus.NewRegistry()
			s, err := snapshot.New(snapshot.Config{ChunkRows: tt.chunkRows}, nil, snapshot.NewMetrics(reg))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			specs := []snapshot.Table{{OID: oid(t, db, tt.table)}}
			if err := s.Run(t.Context(), db.DSN, exp.name, specs, 1, exp.lsn-1, rec.handle); err != nil {
				t.Fatalf("Run: %v", err)
			}
			changes := checkStream(t, rec.msgs, 1, exp.lsn-1, 1)
			chunks := rec.chunks[1 : len(rec.chunks)-1]
			if !slices.Equal(chunks, tt.wantChunks) {
				t.Errorf("chunks = %v; want %v", chunks, tt.wantChunks)
			}
			var ids []int64
			for _, c := range changes {
				ids = append(ids, c.New[0].Data.(int64))
			}
			slices.Sort(ids)
			for i, id := range ids {
				if id != int64(i+1) {
					t.Fatalf("ids read = %v; want 1..%d once each", ids, len(ids))
				}
			}
			rows := metricValue(t, reg, "cdcflow_capture_snapshot_rows_total", "public."+tt.table)
			remaining := metricValue(t, reg, "cdcflow_capture_snapshot_tables_remaining", "")
			if rows != float64(len(changes)) || remaining != 0 {
				t.Errorf("metrics: rows_total %v, tables_remaining %v; want %d, 0", rows, remaining, len(changes))
			}
		})
	}
}

// metricValue returns the value of the gathered metric name (with label
// table = table when table is not empty); 0 when it was never observed.
func metricValue(t *testing.T, reg *prometheus.Registry, name, table string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if table != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != table) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestIntegrationRelationsMatchPgoutput checks that the Relations the
// snapshot builds from the catalog are the ones pgoutput announces in the
// stream: same columns (dropped and generated ones left out, a column list
// respected), types, type modifiers, key flags and replica identity.
func TestIntegrationRelationsMatchPgoutput(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE TABLE "Pk" ("B" int, "A" text, gone int, v varchar(12), n numeric(10,2), arr int4[], m mood, p posint,
	twice int GENERATED ALWAYS AS ("B" * 2) STORED, PRIMARY KEY ("A", "B"));
ALTER TABLE "Pk" DROP COLUMN gone;
CREATE TABLE by_index (id int PRIMARY KEY, code text NOT NULL, x int);
CREATE UNIQUE INDEX by_index_code ON by_index (code);
ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code;
CREATE TABLE full_rows (a int, b text);
ALTER TABLE full_rows REPLICA IDENTITY FULL;
CREATE TABLE nothing (id int PRIMARY KEY, x int);
ALTER TABLE nothing REPLICA IDENTITY NOTHING;
CREATE TABLE listed (id int PRIMARY KEY, "B" text, c text, d text);
CREATE TABLE parted (id int, k int, v text, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES IN (1);
CREATE PUBLICATION pub FOR TABLE "Pk", by_index, full_rows, nothing, listed (d, id, "B"), parted
	WITH (publish_via_partition_root = true);`)
	names := []string{`"Pk"`, "by_index", "full_rows", "nothing", "listed", "parted"}
	var specs []snapshot.Table
	for _, n := range names {
		specs = append(specs, snapshot.Table{OID: oid(t, db, n)})
	}
	specs[4].Columns = []string{"d", "id", "B"}

	exp := exportSnapshot(t, db)
	s, err := snapshot.New(snapshot.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := s.Run(t.Context(), db.DSN, exp.name, specs, 1, exp.lsn-1, rec.handle); err != nil {
		t.Fatalf("Run: %v", err)
	}
	ours := rec.msgs[0].(*capture.Marker).Tables

	db.Exec(t, `
INSERT INTO "Pk" ("B", "A", v, n, arr, m, p) VALUES (1, 'a', 'v', 1.5, '{1,2}', 'ok', 3);
INSERT INTO by_index VALUES (1, 'c', 1);
INSERT INTO full_rows VALUES (1, 'b');
INSERT INTO nothing VALUES (1, 1);
INSERT INTO listed VALUES (1, 'b', 'c', 'd');
INSERT INTO parted VALUES (1, 1, 'v');`)
	streamed := streamRelations(t, exp, len(names))

	for i, rel := range ours {
		want, ok := streamed[rel.OID]
		if !ok {
			t.Errorf("%s: pgoutput announced no relation with OID %d", names[i], rel.OID)
			continue
		}
		if rel.Schema != want.Namespace || rel.Table != want.RelationName || byte(rel.ReplicaIdentity) != want.ReplicaIdentity {
			t.Errorf("%s: relation %s.%s identity %c; pgoutput says %s.%s identity %c", names[i],
				rel.Schema, rel.Table, rel.ReplicaIdentity, want.Namespace, want.RelationName, want.ReplicaIdentity)
		}
		var got, wantCols []string
		for _, c := range rel.Columns {
			got = append(got, fmt.Sprintf("%s oid=%d mod=%d key=%v", c.Name, c.TypeOID, c.TypeMod, c.Key))
		}
		for _, c := range want.Columns {
			wantCols = append(wantCols, fmt.Sprintf("%s oid=%d mod=%d key=%v", c.Name, c.DataType, c.TypeModifier, c.Flags&1 == 1))
		}
		if !slices.Equal(got, wantCols) {
			t.Errorf("%s: columns\n%s\npgoutput says\n%s", names[i], strings.Join(got, "\n"), strings.Join(wantCols, "\n"))
		}
	}

	// Type names as pgoutput's Type messages and pgvalue name them.
	var typeNames []string
	for _, c := range ours[0].Columns {
		typeNames = append(typeNames, c.Name+":"+c.TypeName)
	}
	want := []string{"B:int4", "A:text", "v:varchar", "n:numeric", "arr:_int4", "m:mood", "p:int4"}
	if !slices.Equal(typeNames, want) {
		t.Errorf("type names = %v; want %v", typeNames, want)
	}
}

// streamRelations starts replication on the exported slot and returns the
// first n Relation messages pgoutput sends, by OID.
func streamRelations(t *testing.T, exp exported, n int) map[uint32]*pglogrepl.RelationMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := pglogrepl.StartReplication(ctx, exp.conn, exp.slot, pglogrepl.LSN(exp.lsn), pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names 'pub'"},
	})
	if err != nil {
		t.Fatalf("start replication: %v", err)
	}
	rels := map[uint32]*pglogrepl.RelationMessage{}
	for len(rels) < n {
		msg, err := exp.conn.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("receive (have %d of %d relations): %v", len(rels), n, err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			t.Fatal(err)
		}
		m, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := m.(*pglogrepl.RelationMessage); ok {
			rels[r.RelationID] = r
		}
	}
	return rels
}

// TestIntegrationPinnedSettingsAndBlockingHandler runs against a database
// whose own settings would change how values print (DateStyle, TimeZone,
// IntervalStyle, bytea_output, extra_float_digits) and would end an idle
// transaction or a long statement after 300ms, with a handler that blocks
// for longer than that. The snapshot must survive and decode every value as
// the stream's pinned session prints it.
func TestIntegrationPinnedSettingsAndBlockingHandler(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, fmt.Sprintf(`
ALTER DATABASE %[1]s SET DateStyle = 'SQL, DMY';
ALTER DATABASE %[1]s SET TimeZone = 'America/New_York';
ALTER DATABASE %[1]s SET IntervalStyle = 'sql_standard';
ALTER DATABASE %[1]s SET bytea_output = 'escape';
ALTER DATABASE %[1]s SET extra_float_digits = 0;
ALTER DATABASE %[1]s SET idle_in_transaction_session_timeout = '300ms';
ALTER DATABASE %[1]s SET statement_timeout = '300ms';`, pgx.Identifier{db.Name}.Sanitize()))
	db.Exec(t, `
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE TABLE types (
	id int PRIMARY KEY, i2 int2, i8 int8, n numeric(10,4), m money, f4 float4, f8 float8, b bool,
	t text, vc varchar(5), c char(3), u uuid, d date, ts timestamp, tstz timestamptz, tm time, tmtz timetz,
	iv interval, j json, jb jsonb, by bytea, ai int4[], at text[], e mood, dom posint);
INSERT INTO types VALUES
	(1, -2, 9007199254740993, 1234.5600, 12.34, 0.1, 0.1, true, 'tëxt', 'ab', 'x', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	 '2026-11-23', '2026-11-23 10:15:00.123456', '2026-11-23 10:15:00.123456+00', '10:15:00', '10:15:00+02',
	 '1 day 02:03:04', '{"a": 1}', '{"b": [1, 2]}', '\x0102ff', '{1,NULL,3}', '{"a b",NULL}', 'ok', 7),
	(2, NULL, NULL, 'NaN', NULL, 'Infinity', '-Infinity', NULL, NULL, NULL, NULL, NULL,
	 'infinity', '-infinity', 'infinity', NULL, NULL, NULL, NULL, NULL, '\x', '{}', NULL, NULL, NULL);`)

	exp := exportSnapshot(t, db)
	s, err := snapshot.New(snapshot.Config{ChunkRows: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{onChunk: func(ctx context.Context, n int) error {
		// Backpressure: longer than both of the database's timeouts.
		select {
		case <-time.After(time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	specs := []snapshot.Table{{OID: oid(t, db, "types")}}
	if err := s.Run(t.Context(), db.DSN, exp.name, specs, 1, exp.lsn-1, rec.handle); err != nil {
		t.Fatalf("Run: %v", err)
	}
	changes := checkStream(t, rec.msgs, 1, exp.lsn-1, 1)
	if len(changes) != 2 {
		t.Fatalf("got %d rows; want 2", len(changes))
	}
	rel := changes[0].Relation
	want := rowsInSnapshot(t, db, exp.name, rel)
	for _, c := range changes {
		if want[render(c.New)] != 1 {
			t.Errorf("row %s does not decode as the pinned session prints it; want one of %v", render(c.New), want)
		}
	}
	// A few values spelled out, as DESIGN.md fixes them.
	row := changes[0].New
	col := func(name string) any { return row[rel.ColumnIndex(name)].Data }
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"i8", col("i8"), int64(9007199254740993)},
		{"n", col("n"), capture.Numeric("1234.5600")},
		{"d", col("d"), "2026-11-23"},
		{"tstz", col("tstz"), time.Date(2026, 11, 23, 10, 15, 0, 123456000, time.UTC)},
		{"dom", col("dom"), int64(7)},
		{"e", col("e"), "ok"},
	}
	for _, c := range checks {
		if fmt.Sprintf("%T %v", c.got, c.got) != fmt.Sprintf("%T %v", c.want, c.want) {
			t.Errorf("column %s = %T %v; want %T %v", c.name, c.got, c.got, c.want, c.want)
		}
	}
	if b, ok := col("by").([]byte); !ok || string(b) != "\x01\x02\xff" {
		t.Errorf("column by = %#v; want []byte{1, 2, 0xff}", col("by"))
	}
}

// TestIntegrationCancel cancels the context while the handler blocks, on the
// keyset and on the ctid path (where the scan's result is still streaming),
// and expects Run to return promptly with the context's error.
func TestIntegrationCancel(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `
CREATE TABLE big (id int PRIMARY KEY, pad text);
INSERT INTO big SELECT g, repeat('p', 100) FROM generate_series(1, 20000) g;
CREATE TABLE heap (id int); ALTER TABLE heap REPLICA IDENTITY FULL;
INSERT INTO heap SELECT generate_series(1, 20000);`)
	for _, table := range []string{"big", "heap"} {
		t.Run(table, func(t *testing.T) {
			exp := exportSnapshot(t, db)
			s, err := snapshot.New(snapshot.Config{ChunkRows: 100}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			chunks := 0
			h := func(ctx context.Context, msgs []capture.Message) error {
				if _, ok := msgs[0].(*capture.Change); !ok {
					return nil
				}
				chunks++
				if chunks == 3 {
					cancel() // as a signal handler would, while the handler is blocked
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}
			start := time.Now()
			err = s.Run(ctx, db.DSN, exp.name, []snapshot.Table{{OID: oid(t, db, table)}}, 1, exp.lsn-1, h)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run after cancel = %v; want context.Canceled", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Run took %v to stop", d)
			}
			if chunks != 3 {
				t.Errorf("handler saw %d chunks; want it to stop after 3", chunks)
			}
		})
	}
}

// TestIntegrationErrors checks the errors Run gives for bad input.
func TestIntegrationErrors(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY); CREATE VIEW v AS SELECT * FROM t;`)
	tests := []struct {
		name     string
		snapshot string // "" for the exported one
		table    snapshot.Table
		want     string
	}{
		{"unknown OID", "", snapshot.Table{OID: 4000000000}, "no such table in the snapshot"},
		{"a view", "", snapshot.Table{OID: oid(t, db, "v")}, `relkind "v" is not a table`},
		{"column list", "", snapshot.Table{OID: oid(t, db, "t"), Columns: []string{"nope"}}, `column list names "nope"`},
		{"bad snapshot name", "x'y", snapshot.Table{OID: oid(t, db, "t")}, "not an exported snapshot name"},
		{"unknown snapshot", "00000009-00000009-9", snapshot.Table{OID: oid(t, db, "t")}, `import snapshot "00000009-00000009-9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := exportSnapshot(t, db)
			name := tt.snapshot
			if name == "" {
				name = exp.name
			}
			s, err := snapshot.New(snapshot.Config{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			called := false
			err = s.Run(t.Context(), db.DSN, name, []snapshot.Table{tt.table}, 1, exp.lsn-1,
				func(context.Context, []capture.Message) error { called = true; return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v; want an error containing %q", err, tt.want)
			}
			if called {
				t.Error("handler called before the tables were validated")
			}
		})
	}
}

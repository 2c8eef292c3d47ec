package replication

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// streamOnly starts a Reader without snapshot on tables and waits until it
// streams.
func streamOnly(t *testing.T, db *testenv.DB, tables ...string) *running {
	t.Helper()
	c := &collector{confirm: true}
	cfg := testConfig(db, tables...)
	cfg.SnapshotMode = SnapshotNever
	rr := start(t, cfg, c, nil)
	testenv.Await(t, 30*time.Second, "connected", func() (bool, error) {
		if done, err := rr.exited(); done {
			t.Fatalf("Run returned: %v", err)
		}
		return c.count(isConnected) == 1, nil
	})
	return rr
}

func kinds(vals []capture.Value) []capture.Kind {
	out := make([]capture.Kind, len(vals))
	for i, v := range vals {
		out[i] = v.Kind
	}
	return out
}

func TestIntegrationReplicaIdentities(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `
		CREATE TABLE def (id int PRIMARY KEY, a text, big text);
		CREATE TABLE full_ri (id int PRIMARY KEY, a text, big text);
		ALTER TABLE full_ri REPLICA IDENTITY FULL;
		CREATE TABLE idx (id int NOT NULL, code text NOT NULL, a text);
		CREATE UNIQUE INDEX idx_code ON idx (code);
		ALTER TABLE idx REPLICA IDENTITY USING INDEX idx_code;
		ALTER TABLE def ALTER COLUMN big SET STORAGE EXTERNAL;
		ALTER TABLE full_ri ALTER COLUMN big SET STORAGE EXTERNAL;
		INSERT INTO def VALUES (1, 'a', repeat('x', 10000));
		INSERT INTO full_ri VALUES (1, 'a', repeat('x', 10000));
		INSERT INTO idx VALUES (1, 'c1', 'a');`)
	rr := streamOnly(t, db, "def", "full_ri", "idx")
	db.Exec(t, `
		UPDATE def SET a = 'b' WHERE id = 1;          -- TOAST unchanged, no old tuple
		UPDATE def SET id = 2 WHERE id = 1;           -- key change: old key sent
		DELETE FROM def WHERE id = 2;                 -- old key only
		UPDATE full_ri SET a = 'b' WHERE id = 1;      -- old tuple whole; new big unchanged
		DELETE FROM full_ri WHERE id = 1;
		UPDATE idx SET code = 'c2' WHERE code = 'c1'; -- index identity changed
		DELETE FROM idx WHERE code = 'c2';`)
	got := awaitChanges(t, rr, 7)

	// def: UPDATE without key change: no old tuple, big unchanged TOAST.
	if u := got[0]; u.Old != nil || u.New[2].Kind != capture.KindUnchangedTOAST || u.New[1].Data != "b" {
		t.Errorf("def update: old %v new kinds %v", u.Old, kinds(u.New))
	}
	if got[0].New[2].Kind == capture.KindNull {
		t.Error("unchanged TOAST value reported as NULL")
	}
	// def: key change carries the old key.
	if u := got[1]; u.Old == nil || intValue(t, u.Old[0]) != 1 || intValue(t, u.New[0]) != 2 {
		t.Errorf("def key change: old %v new %v", u.Old, u.New)
	}
	// def: delete has the key, the other columns absent.
	if d := got[2]; d.Op != capture.OpDelete || intValue(t, d.Old[0]) != 2 || d.Old[1].Kind != capture.KindAbsent {
		t.Errorf("def delete: old kinds %v", kinds(d.Old))
	}
	// full_ri: the old tuple is whole.
	if u := got[3]; u.Old == nil || u.Old[1].Data != "a" || u.Old[2].Kind != capture.KindValue {
		t.Errorf("full update: old kinds %v", kinds(u.Old))
	} else if u.New[2].Kind == capture.KindUnchangedTOAST {
		// Under FULL, pgoutput still marks the value unchanged in the new
		// tuple; the decoder may fill it from the old tuple.
		t.Logf("full update: new big left unchanged-TOAST (old tuple has it)")
	}
	if d := got[4]; d.Old == nil || d.Old[1].Data != "b" {
		t.Errorf("full delete: old %v", d.Old)
	}
	// idx: identity columns only.
	if u := got[5]; u.Old == nil || u.Old[1].Data != "c1" {
		t.Errorf("index identity update: old %v", u.Old)
	}
	if d := got[6]; d.Old == nil || d.Old[1].Data != "c2" || d.Old[0].Kind != capture.KindAbsent {
		t.Errorf("index identity delete: old kinds %v", kinds(d.Old))
	}
	rel := got[5].Relation
	if rel.ReplicaIdentity != capture.IdentityIndex || !rel.Columns[1].Key || rel.Columns[0].Key {
		t.Errorf("idx relation identity %c, keys %v", rel.ReplicaIdentity, rel.Columns)
	}
}

func TestIntegrationTruncateAndAlterTable(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE a (id serial PRIMARY KEY, v int);
		CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id));
		INSERT INTO a (v) VALUES (1)`)
	rr := streamOnly(t, db, "a", "b")
	db.Exec(t, `INSERT INTO b VALUES (1, 1)`)
	db.Exec(t, `TRUNCATE a, b RESTART IDENTITY CASCADE`)
	db.Exec(t, `ALTER TABLE a ADD COLUMN note text; INSERT INTO a (v, note) VALUES (2, 'n')`)
	db.Exec(t, `ALTER TABLE a DROP COLUMN v; ALTER TABLE a ALTER COLUMN note TYPE varchar(10); INSERT INTO a (note) VALUES ('m')`)
	got := awaitChanges(t, rr, 4)
	tr := got[1]
	if tr.Op != capture.OpTruncate || len(tr.Truncated) != 2 || !tr.Cascade || !tr.RestartIdentity {
		t.Fatalf("truncate = op %s tables %d cascade %v restart %v", tr.Op, len(tr.Truncated), tr.Cascade, tr.RestartIdentity)
	}
	names := []string{tr.Truncated[0].Table, tr.Truncated[1].Table}
	if strings.Join(names, ",") != "a,b" && strings.Join(names, ",") != "b,a" {
		t.Errorf("truncated %v", names)
	}
	add := got[2]
	if n := len(add.Relation.Columns); n != 3 || add.Relation.Columns[2].Name != "note" || add.New[2].Data != "n" {
		t.Errorf("after ADD COLUMN: %d columns %v, new %v", n, add.Relation.Columns, add.New)
	}
	dropped := got[3]
	if n := len(dropped.Relation.Columns); n != 2 || dropped.Relation.Columns[1].TypeName != "varchar" || dropped.New[1].Data != "m" {
		t.Errorf("after DROP COLUMN and retype: columns %+v, new %v", dropped.Relation.Columns, dropped.New)
	}
	if add.Relation == dropped.Relation {
		t.Error("relation pointer unchanged across ALTER TABLE")
	}
}

// A slot invalidated by max_slot_wal_keep_size: Run stops with ErrSlotLost,
// or with DropLostSlot starts a new snapshot epoch.
func TestIntegrationSlotLost(t *testing.T) {
	pg := testenv.NewPostgres(t, map[string]string{"max_slot_wal_keep_size": "1MB", "min_wal_size": "32MB", "max_wal_size": "32MB"})
	db := pg.NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, pad text); INSERT INTO t VALUES (1, 'x')`)
	c := &collector{confirm: true}
	rr := start(t, testConfig(db, "t"), c, nil)
	testenv.Await(t, 30*time.Second, "snapshot", func() (bool, error) {
		return c.count(isMarker(capture.MarkerSnapshotEnd)) == 1, nil
	})
	if err := rr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Write and switch WAL segments until the inactive slot is invalidated.
	testenv.Await(t, 60*time.Second, "slot lost", func() (bool, error) {
		db.Exec(t, `INSERT INTO t SELECT g, repeat('p', 1000) FROM generate_series(2, 3000) g ON CONFLICT (id) DO UPDATE SET pad = excluded.pad || 'q'`)
		db.Exec(t, `SELECT pg_switch_wal(); CHECKPOINT`)
		return testenv.QueryValue[string](t, db, "SELECT coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = 'cdcflow'") == "lost", nil
	})

	rr2 := start(t, testConfig(db, "t"), &collector{confirm: true}, nil)
	err := rr2.wait(t, 60*time.Second)
	if !errors.Is(err, ErrSlotLost) || !strings.Contains(err.Error(), "pg_drop_replication_slot") {
		t.Fatalf("Run = %v, want ErrSlotLost saying what to do", err)
	}

	cfg := testConfig(db, "t")
	cfg.DropLostSlot = true
	c3 := &collector{confirm: true}
	start(t, cfg, c3, nil)
	testenv.Await(t, 60*time.Second, "a new snapshot", func() (bool, error) {
		return c3.count(isMarker(capture.MarkerSnapshotEnd)) == 1, nil
	})
	if n := len(c3.changes()); n != 3000 {
		t.Errorf("new snapshot has %d rows, want 3000", n)
	}
}

// The database's own settings (DateStyle, IntervalStyle, TimeZone,
// extra_float_digits, bytea_output) do not change the values capture hands
// on: the replication connection pins them.
func TestIntegrationPinnedSessionSettings(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `ALTER DATABASE `+quoteIdent(db.Name)+` SET DateStyle = 'SQL, DMY';
		ALTER DATABASE `+quoteIdent(db.Name)+` SET IntervalStyle = 'sql_standard';
		ALTER DATABASE `+quoteIdent(db.Name)+` SET TimeZone = 'America/New_York';
		ALTER DATABASE `+quoteIdent(db.Name)+` SET extra_float_digits = -3;
		ALTER DATABASE `+quoteIdent(db.Name)+` SET bytea_output = 'escape'`)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, f float8, b bytea, n numeric)`)
	rr := streamOnly(t, db, "t")
	db.Exec(t, `INSERT INTO t VALUES (1, '2026-11-23', '2026-11-23 10:15:00.123456', '2026-11-23 10:15:00.5+00',
		0.1, '\xdead', 1234.5600)`)
	ch := awaitChanges(t, rr, 1)[0]
	want := []any{
		int64(1), "2026-11-23",
		capture.LocalTime{Time: time.Date(2026, 11, 23, 10, 15, 0, 123456000, time.UTC)},
		time.Date(2026, 11, 23, 10, 15, 0, 500000000, time.UTC),
		0.1, []byte{0xde, 0xad}, capture.Numeric("1234.5600"),
	}
	for i, w := range want {
		got := ch.New[i].Data
		switch w := w.(type) {
		case []byte:
			if g, ok := got.([]byte); !ok || string(g) != string(w) {
				t.Errorf("column %s = %#v, want %#v", ch.Relation.Columns[i].Name, got, w)
			}
		case time.Time:
			if g, ok := got.(time.Time); !ok || !g.Equal(w) {
				t.Errorf("column %s = %#v, want %v", ch.Relation.Columns[i].Name, got, w)
			}
		case capture.LocalTime:
			if g, ok := got.(capture.LocalTime); !ok || !g.Equal(w.Time) {
				t.Errorf("column %s = %#v, want %v", ch.Relation.Columns[i].Name, got, w)
			}
		default:
			if got != w {
				t.Errorf("column %s = %#v, want %#v", ch.Relation.Columns[i].Name, got, w)
			}
		}
	}
}

// A partitioned table is captured through its root: snapshot rows and
// changes of every partition carry the root's relation.
func TestIntegrationPartitionedTableViaRoot(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE m (id int NOT NULL, k int NOT NULL, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
		CREATE TABLE m_1 PARTITION OF m FOR VALUES IN (1);
		CREATE TABLE m_2 PARTITION OF m FOR VALUES IN (2);
		INSERT INTO m VALUES (1, 1), (2, 2)`)
	c := &collector{confirm: true}
	rr := start(t, testConfig(db, "m"), c, nil)
	awaitChanges(t, rr, 2)
	db.Exec(t, `INSERT INTO m VALUES (3, 1), (4, 2); UPDATE m SET k = 2 WHERE id = 3`)
	got := awaitChanges(t, rr, 5)
	for i, ch := range got {
		if ch.Relation.Table != "m" {
			t.Errorf("change %d (%s) of relation %q, want the root m", i, ch.Op, ch.Relation.Table)
		}
	}
	if viaRoot := testenv.QueryValue[bool](t, db, "SELECT pubviaroot FROM pg_publication WHERE pubname = 'cdcflow'"); !viaRoot {
		t.Error("publication not via root")
	}
}

// A table added to the configuration of a running slot is refused while
// the publication lacks it, with what to run.
func TestIntegrationTableAddedLaterRefused(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)`)
	rr := streamOnly(t, db, "a")
	if err := rr.stop(t); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(db, "a", "b")
	rr2 := start(t, cfg, &collector{}, nil)
	err := rr2.wait(t, 30*time.Second)
	if !errors.As(err, new(*NotReadyError)) || !strings.Contains(err.Error(), `ALTER PUBLICATION "cdcflow" ADD TABLE "public"."b"`) {
		t.Fatalf("Run = %v, want a NotReadyError saying to add b", err)
	}
}

// Columns of types that are not built in carry their own type name.
func TestIntegrationUserDefinedTypes(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TYPE mood AS ENUM ('sad', 'happy'); CREATE DOMAIN positive AS int CHECK (VALUE > 0);
		CREATE TABLE t (id int PRIMARY KEY, m mood, p positive)`)
	rr := streamOnly(t, db, "t")
	db.Exec(t, `INSERT INTO t VALUES (1, 'happy', 7)`)
	ch := awaitChanges(t, rr, 1)[0]
	if got := ch.Relation.Columns[1].TypeName; got != "mood" {
		t.Errorf("enum column type %q, want mood", got)
	}
	if ch.New[1].Data != "happy" {
		t.Errorf("enum value %#v, want happy", ch.New[1].Data)
	}
	t.Logf("domain column: type %q (oid %d), value %#v", ch.Relation.Columns[2].TypeName, ch.Relation.Columns[2].TypeOID, ch.New[2].Data)
}

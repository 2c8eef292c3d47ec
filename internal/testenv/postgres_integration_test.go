package testenv

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestMain(m *testing.M) { MainVerifyNoLeaks(m) }

func TestIntegrationPostgresShared(t *testing.T) {
	pg := Postgres(t)
	if again := Postgres(t); again != pg {
		t.Fatalf("Postgres returned %p, then %p; want one shared server", pg, again)
	}
	a, b := pg.NewDatabase(t), pg.NewDatabase(t)
	if a.Name == b.Name {
		t.Fatalf("two databases share the name %q", a.Name)
	}
	a.Exec(t, "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
	if n := QueryValue[int64](t, a, "SELECT count(*) FROM t"); n != 2 {
		t.Errorf("count(*) = %d; want 2", n)
	}
	if err := b.QueryRow(t, "SELECT count(*) FROM t").Scan(new(int64)); err == nil {
		t.Error("table t is visible in the other database")
	}
	if err := a.QueryRow(t, "SELECT 1 WHERE false").Scan(new(int)); !errors.Is(err, pgx.ErrNoRows) {
		t.Errorf("QueryRow with no row: Scan = %v; want pgx.ErrNoRows", err)
	}
	var s *string
	if err := a.QueryRow(t, "SELECT NULL::text").Scan(&s); err != nil || s != nil {
		t.Errorf("QueryRow(NULL).Scan = %v, %v; want nil, nil", s, err)
	}
	if got := QueryValue[string](t, a, "SHOW wal_level"); got != "logical" {
		t.Errorf("wal_level = %q; want logical", got)
	}
}

// TestIntegrationNewDatabaseCleanup checks that a database whose slot is
// held by a live walsender is still dropped when its test ends.
func TestIntegrationNewDatabaseCleanup(t *testing.T) {
	pg := Postgres(t)
	var name string
	var conn *pgconn.PgConn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	t.Run("holder", func(t *testing.T) {
		db := pg.NewDatabase(t)
		name = db.Name
		db.Exec(t, "CREATE PUBLICATION p FOR ALL TABLES")
		// The connection outlives this subtest, so the slot is still active,
		// held by its walsender, when the harness drops the database.
		var err error
		conn, err = pgconn.Connect(t.Context(), db.ReplicationDSN)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pglogrepl.CreateReplicationSlot(t.Context(), conn, "held", "pgoutput", pglogrepl.CreateReplicationSlotOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pglogrepl.StartReplication(t.Context(), conn, "held", 0, pglogrepl.StartReplicationOptions{
			PluginArgs: []string{"proto_version '1'", "publication_names 'p'"},
		}); err != nil {
			t.Fatal(err)
		}
		if n := QueryValue[int64](t, db, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'held' AND active"); n != 1 {
			t.Fatalf("active slots named held = %d; want 1", n)
		}
	})
	admin, err := pgx.Connect(t.Context(), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var dbs, slots int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&dbs); err != nil {
		t.Fatal(err)
	}
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_replication_slots WHERE database = $1", name).Scan(&slots); err != nil {
		t.Fatal(err)
	}
	if dbs != 0 || slots != 0 {
		t.Errorf("after the test: %d databases and %d slots named for %s; want none", dbs, slots, name)
	}
}

func TestIntegrationNewPostgresSettings(t *testing.T) {
	pg := NewPostgres(t, map[string]string{"wal_sender_timeout": "2s"})
	db := pg.NewDatabase(t)
	if got := QueryValue[string](t, db, "SHOW wal_sender_timeout"); got != "2s" {
		t.Errorf("wal_sender_timeout = %q; want 2s", got)
	}
	db.Exec(t, "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g")

	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	// db's own connection died with the server; Exec and QueryRow reconnect.
	db.Exec(t, "INSERT INTO t VALUES (101)")
	if n := QueryValue[int64](t, db, "SELECT count(*) FROM t"); n != 101 {
		t.Errorf("rows after kill -9, restart and one insert = %d; want 101", n)
	}
}

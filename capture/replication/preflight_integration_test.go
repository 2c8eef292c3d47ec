package replication

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// roleDSN returns db's DSN for another role.
func roleDSN(t *testing.T, db *testenv.DB, role string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(db.DSN, "postgres://"+cfg.User+"@", "postgres://"+role+"@", 1)
}

// cleanupExec runs sql in t.Cleanup, when t.Context() is already done.
func cleanupExec(t *testing.T, db *testenv.DB, sql string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Errorf("cleanup %q: %v", sql, err)
	}
}

func TestIntegrationPreflight(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	role := "pf_" + strings.ToLower(db.Name)
	role = role[:min(len(role), 60)]
	db.Exec(t, `CREATE TABLE ok_t (id int PRIMARY KEY);
		CREATE TABLE no_pk (id int);
		CREATE TABLE nothing (id int PRIMARY KEY); ALTER TABLE nothing REPLICA IDENTITY NOTHING;
		CREATE TABLE full_t (id int); ALTER TABLE full_t REPLICA IDENTITY FULL;
		CREATE TABLE parted (id int NOT NULL, k int NOT NULL) PARTITION BY LIST (k);
		CREATE TABLE parted_1 PARTITION OF parted FOR VALUES IN (1);
		CREATE TABLE parted_2 PARTITION OF parted FOR VALUES IN (2);
		ALTER TABLE parted_1 ADD PRIMARY KEY (id);
		CREATE TABLE "Mixed Case" (id int PRIMARY KEY)`)
	db.Exec(t, `CREATE ROLE `+role+` LOGIN; GRANT SELECT ON ok_t TO `+role)
	t.Cleanup(func() { cleanupExec(t, db, `DROP OWNED BY `+role+`; DROP ROLE `+role) })
	db.Exec(t, `REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC`)
	t.Cleanup(func() {
		cleanupExec(t, db, `GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO PUBLIC`)
	})

	tests := []struct {
		name   string
		dsn    string
		tables []string
		want   []string // substrings, each in some problem
	}{
		{"ready", db.DSN, []string{"ok_t", "full_t", `public."Mixed Case"`}, nil},
		{"unknown table", db.DSN, []string{"ok_t", "missing", `public."mixed case"`}, []string{`unknown tables "public"."missing", "public"."mixed case"`}},
		{"no primary key", db.DSN, []string{"no_pk"}, []string{`public.no_pk has no primary key: run ALTER TABLE public.no_pk ADD PRIMARY KEY`}},
		{"replica identity nothing", db.DSN, []string{"nothing"}, []string{"REPLICA IDENTITY NOTHING"}},
		{"leaf partition without key", db.DSN, []string{"parted"}, []string{`public.parted_2 has no primary key`}},
		{"unprivileged role", roleDSN(t, db, role), []string{"ok_t", "full_t"}, []string{
			"lacks the REPLICATION attribute: run ALTER ROLE",
			"may not execute pg_logical_emit_message",
			`may not read "public"."full_t"`,
			"have an administrator run CREATE PUBLICATION",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Preflight(t.Context(), Config{DSN: tt.dsn, Tables: tt.tables})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Preflight = %v, want nil", err)
				}
				return
			}
			var nr *NotReadyError
			if !errors.As(err, &nr) {
				t.Fatalf("Preflight = %v, want a NotReadyError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Preflight error\n%v\ndoes not say %q", err, w)
				}
			}
		})
	}

	// The Reader refuses to create a publication with a table the legacy
	// application could then no longer update.
	rr := start(t, Config{DSN: db.DSN, Tables: []string{"ok_t", "no_pk"}}, &collector{}, nil)
	err := rr.wait(t, 30*time.Second)
	if !errors.As(err, new(*NotReadyError)) || !strings.Contains(err.Error(), "no_pk") {
		t.Fatalf("Run = %v, want a NotReadyError about no_pk", err)
	}
	if n := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM pg_publication"); n != 0 {
		t.Errorf("%d publications created, want 0", n)
	}
}

func TestIntegrationPreflightServerSettings(t *testing.T) {
	pg := testenv.NewPostgres(t, map[string]string{"wal_level": "replica", "max_replication_slots": "1", "max_wal_senders": "1"})
	db := pg.NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	// A physical slot takes the only slot.
	db.Exec(t, `SELECT pg_create_physical_replication_slot('other')`)
	err := Preflight(t.Context(), Config{DSN: db.DSN, Tables: []string{"t"}})
	for _, want := range []string{
		`wal_level is "replica": run ALTER SYSTEM SET wal_level = logical`,
		"max_replication_slots is 1 and 1 are in use, cdcflow needs 2 more",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Preflight = %v, want %q", err, want)
		}
	}
}

// Without REPLICATION the Reader stops at once with the server's error
// instead of retrying forever.
func TestIntegrationRunStopsOnPermanentError(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	role := "norepl_" + strings.ToLower(db.Name)
	role = role[:min(len(role), 60)]
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY); CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() { cleanupExec(t, db, `DROP OWNED BY `+role+`; DROP ROLE `+role) })
	rr := start(t, Config{DSN: roleDSN(t, db, role), Tables: []string{"t"}}, &collector{}, nil)
	err := rr.wait(t, 30*time.Second)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || !strings.HasPrefix(pgErr.Code, "28") && !strings.HasPrefix(pgErr.Code, "42") {
		t.Fatalf("Run = %v, want the server's permission error", err)
	}
}

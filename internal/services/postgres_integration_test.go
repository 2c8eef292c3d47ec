package services

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// tempDir returns a short directory for a server's files and removes it
// after the test. t.TempDir's paths can be too long for a Unix socket.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "cdcflow-svc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// skipIfMissing skips (or, under CI=true, fails) when err says a server
// program is not installed.
func skipIfMissing(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func startPostgres(t *testing.T, settings map[string]string) *Postgres {
	t.Helper()
	pg, err := StartPostgres(t.Context(), PostgresOptions{Dir: tempDir(t), Settings: settings})
	skipIfMissing(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return pg
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func show(t *testing.T, conn *pgx.Conn, name string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(t.Context(), "SHOW "+name).Scan(&v); err != nil {
		t.Fatalf("SHOW %s: %v", name, err)
	}
	return v
}

func TestIntegrationPostgresLogical(t *testing.T) {
	pg := startPostgres(t, map[string]string{"wal_sender_timeout": "2s"})
	conn := connect(t, pg.DSN("postgres"))

	for name, want := range map[string]string{
		"wal_level":             "logical",
		"max_replication_slots": "20",
		"wal_sender_timeout":    "2s",
	} {
		if got := show(t, conn, name); got != want {
			t.Errorf("SHOW %s = %q; want %q", name, got, want)
		}
	}
	var port int
	if err := conn.QueryRow(t.Context(), "SELECT current_setting('port')::int").Scan(&port); err != nil {
		t.Fatal(err)
	}
	if port != pg.Port() {
		t.Errorf("server port = %d; want Port() = %d", port, pg.Port())
	}

	var lsn string
	if err := conn.QueryRow(t.Context(),
		"SELECT lsn::text FROM pg_create_logical_replication_slot('svc_test', 'pgoutput')").Scan(&lsn); err != nil {
		t.Fatalf("create logical slot: %v", err)
	}
	if _, err := conn.Exec(t.Context(), "SELECT pg_drop_replication_slot('svc_test')"); err != nil {
		t.Fatal(err)
	}

	// The replication DSN opens a walsender that speaks the replication
	// protocol: IDENTIFY_SYSTEM is only understood there.
	rconn := connect(t, pg.ReplicationDSN("postgres"))
	if _, err := rconn.PgConn().Exec(t.Context(), "IDENTIFY_SYSTEM").ReadAll(); err != nil {
		t.Errorf("IDENTIFY_SYSTEM over ReplicationDSN: %v", err)
	}

	// The Unix socket in Host() works too.
	sconn := connect(t, "host="+pg.Host()+" port="+strconv.Itoa(pg.Port())+" user=postgres dbname=postgres")
	if got := show(t, sconn, "wal_level"); got != "logical" {
		t.Errorf("over the socket: SHOW wal_level = %q", got)
	}
}

func TestIntegrationPostgresKillRestart(t *testing.T) {
	pg := startPostgres(t, nil)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot('survivor', 'pgoutput')"); err != nil {
		t.Fatal(err)
	}
	port := pg.Port()
	pg.mu.Lock()
	kids := descendants(pg.proc.cmd.Process.Pid)
	pg.mu.Unlock()
	if len(kids) < 3 { // checkpointer, background writer, walwriter, our backend...
		t.Fatalf("postmaster has %d children before Kill; want several", len(kids))
	}

	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, s := range processes() {
		if slices.Contains(kids, s.pid) && s.state != "Z" {
			t.Errorf("pid %d (a postmaster child) is alive after Kill, state %s", s.pid, s.state)
		}
	}
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("ping after Kill succeeded; want the connection gone")
	}
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if pg.Port() != port {
		t.Errorf("port after restart = %d; want %d", pg.Port(), port)
	}
	conn2 := connect(t, pg.DSN("postgres"))
	var n int
	if err := conn2.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1000 {
		t.Errorf("rows after kill -9 and restart = %d; want 1000", n)
	}
	var slots int
	if err := conn2.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'survivor'").Scan(&slots); err != nil {
		t.Fatal(err)
	}
	if slots != 1 {
		t.Errorf("slots named survivor after restart = %d; want 1", slots)
	}
	if !strings.Contains(logTail(pg.LogPath()), "database system was interrupted") {
		t.Errorf("log shows no crash recovery after Kill:\n%s", logTail(pg.LogPath()))
	}

	// A clean stop and start keeps the data as well.
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	conn3 := connect(t, pg.DSN("postgres"))
	if err := conn3.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1000 {
		t.Errorf("rows after Stop and Restart = %d, %v; want 1000", n, err)
	}
}

func TestIntegrationPostgresStartFailureShowsLog(t *testing.T) {
	// shared_buffers below the minimum makes the server refuse to start;
	// the error must carry the server's own explanation.
	_, err := StartPostgres(t.Context(), PostgresOptions{Dir: tempDir(t), Settings: map[string]string{"shared_buffers": "1kB"}})
	skipIfMissing(t, err)
	if err == nil {
		t.Fatal("StartPostgres with shared_buffers=1kB succeeded; want an error")
	}
	if !strings.Contains(err.Error(), "shared_buffers") {
		t.Errorf("StartPostgres error does not show the server's log:\n%v", err)
	}
}

func TestPostgresSettingsRejected(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
	}{
		{"port", map[string]string{"port": "5432"}},
		{"socket dir", map[string]string{"unix_socket_directories": "/tmp"}},
		{"bad name", map[string]string{"fsync = on\nport": "1"}},
		{"line break in value", map[string]string{"application_name": "a\nport = 5432"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := postgresSettings(tt.settings); err == nil {
				t.Errorf("postgresSettings(%q) = nil error; want one", tt.settings)
			}
		})
	}
}

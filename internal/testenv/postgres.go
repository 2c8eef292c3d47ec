package testenv

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/internal/services"
)

// cleanupTimeout bounds each cleanup step (dropping a database, stopping a
// server). Cleanup runs after the test's context is cancelled.
const cleanupTimeout = 30 * time.Second

// PG is a PostgreSQL server for tests, either the shared one (Postgres) or
// a dedicated one (NewPostgres). The embedded *services.Postgres gives DSN,
// ReplicationDSN, Port, Host, LogPath and, on a dedicated server only,
// Stop, Kill and Restart.
type PG struct {
	*services.Postgres
	shared bool
}

var sharedPG struct {
	mu  sync.Mutex
	pg  *PG
	err error // the first start's failure, repeated to every later caller
}

// Postgres returns the PostgreSQL server shared by the package's tests,
// starting it on first use. Give each test its own database with
// NewDatabase, and never stop, kill or reconfigure this server: take
// NewPostgres for that. TestMain must call Main, which stops the server.
func Postgres(t testing.TB) *PG {
	t.Helper()
	requireMain(t, "Postgres")
	sharedPG.mu.Lock()
	defer sharedPG.mu.Unlock()
	if sharedPG.pg == nil && sharedPG.err == nil {
		sharedPG.pg, sharedPG.err = startPG(nil)
		if sharedPG.err == nil {
			pg := sharedPG.pg
			pg.shared = true
			addStopper(func() error { return stopPG(pg) })
		}
	}
	if sharedPG.err != nil {
		skipOrFail(t, sharedPG.err)
	}
	return sharedPG.pg
}

// NewPostgres starts a PostgreSQL server for this test alone, with settings
// added to postgresql.conf (e.g. {"wal_sender_timeout": "2s"}; nil for
// none). The test may Stop, Kill and Restart it; it is stopped and its files
// removed in t.Cleanup, after the tail of its log is printed if the test
// failed.
func NewPostgres(t testing.TB, settings map[string]string) *PG {
	t.Helper()
	pg, err := startPG(settings)
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(pg.LogPath()); err == nil {
				t.Logf("postgres log %s (tail):\n%s", pg.LogPath(), tail(b, 40))
			}
		}
		if err := stopPG(pg); err != nil {
			t.Errorf("stop postgres: %v", err)
		}
	})
	return pg
}

// startPG starts a server in a new short temporary directory (Unix socket
// paths are limited to 107 bytes, which t.TempDir can exceed).
func startPG(settings map[string]string) (*PG, error) {
	dir, err := os.MkdirTemp("", "cdcflow-pg-")
	if err != nil {
		return nil, fmt.Errorf("create postgres dir: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := services.StartPostgres(ctx, services.PostgresOptions{Dir: dir, Settings: settings})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &PG{Postgres: p}, nil
}

func stopPG(pg *PG) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := pg.Stop(ctx)
	if rerr := os.RemoveAll(pg.Dir()); rerr != nil && err == nil {
		err = fmt.Errorf("remove postgres dir: %w", rerr)
	}
	return err
}

// dbSeq makes database names unique within the test binary; the test name
// in front makes them readable in the server's log.
var dbSeq atomic.Int64

// NewDatabase creates an empty database with a unique name for this test.
// On the shared server it is dropped in t.Cleanup, after its connections
// are terminated and its replication slots dropped (either would make DROP
// DATABASE fail); a dedicated server's databases go with the server.
func (pg *PG) NewDatabase(t testing.TB) *DB {
	t.Helper()
	name := fmt.Sprintf("%s_%d", identifier(t.Name(), 40), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := pg.admin(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	}); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	db := &DB{
		Name:           name,
		DSN:            pg.DSN(name),
		ReplicationDSN: pg.ReplicationDSN(name),
		pg:             pg,
	}
	t.Cleanup(func() {
		db.closeConn()
		if !pg.shared {
			return
		}
		if err := pg.dropDatabase(name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return db
}

// admin runs fn on a new connection to the "postgres" database.
func (pg *PG) admin(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return fn(c)
}

// dropDatabase terminates the database's sessions (walsenders included),
// drops its replication slots once they are released, then the database.
func (pg *PG) dropDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	return pg.admin(ctx, func(c *pgx.Conn) error {
		poll := backpressure.Backoff{Initial: 20 * time.Millisecond, Max: 20 * time.Millisecond, Floor: 1}
		for {
			if _, err := c.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
				return fmt.Errorf("terminate sessions: %w", err)
			}
			// A slot is released once its walsender has exited, shortly
			// after being terminated; drop the released ones, retry the rest.
			if _, err := c.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name)
				FROM pg_replication_slots WHERE database = $1 AND NOT active`, name); err != nil {
				return fmt.Errorf("drop replication slots: %w", err)
			}
			var left int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE database = $1", name).Scan(&left); err != nil {
				return fmt.Errorf("count replication slots: %w", err)
			}
			if left == 0 {
				break
			}
			if poll.Wait(ctx, nil) != nil {
				return fmt.Errorf("wait for %d active replication slots to be released: %w", left, ctx.Err())
			}
		}
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return err
		}
		return nil
	})
}

// identifier turns s into a lower-case SQL identifier of at most n bytes.
func identifier(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= n {
			break
		}
	}
	id := b.String()
	if id == "" || id[0] >= '0' && id[0] <= '9' {
		id = "t" + id
	}
	return id
}

// DB is a database of its own for one test.
type DB struct {
	// Name is the database's name.
	Name string
	// DSN connects to the database as the superuser postgres.
	DSN string
	// ReplicationDSN is DSN with replication=database, for a logical
	// replication connection.
	ReplicationDSN string

	pg *PG
	mu sync.Mutex // guards c
	c  *pgx.Conn
}

// Conn opens a new connection to the database, closed in t.Cleanup.
func (db *DB) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	c, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		t.Fatalf("connect to database %s: %v", db.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// conn returns the database's own connection, opened on first use and
// closed when the database's test ends. A connection the server dropped
// (it was killed or restarted) is replaced, so Exec and QueryRow work
// again as soon as the server does; the ping that finds out costs one
// local round trip. The caller must hold db.mu.
func (db *DB) conn(ctx context.Context) (*pgx.Conn, error) {
	if db.c != nil && db.c.Ping(ctx) != nil {
		db.c.Close(ctx)
		db.c = nil
	}
	if db.c == nil {
		c, err := pgx.Connect(ctx, db.DSN)
		if err != nil {
			return nil, err
		}
		db.c = c
	}
	return db.c, nil
}

func (db *DB) closeConn() {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		db.c.Close(ctx)
		db.c = nil
	}
}

// Exec runs sql (one or more statements when args is empty) under
// t.Context() and fails the test on error. Calls take turns on one
// connection; as it fails with t.Fatalf, call it from the test's goroutine
// and give a writer goroutine its own Conn.
func (db *DB) Exec(t testing.TB, sql string, args ...any) pgconn.CommandTag {
	t.Helper()
	db.mu.Lock()
	defer db.mu.Unlock()
	c, err := db.conn(t.Context())
	if err != nil {
		t.Fatalf("connect to database %s: %v", db.Name, err)
	}
	tag, err := c.Exec(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("exec %q on %s: %v", abbrev(sql), db.Name, err)
	}
	return tag
}

// QueryRow runs a query expected to return at most one row under
// t.Context(); its error, or pgx.ErrNoRows, comes from Scan.
func (db *DB) QueryRow(t testing.TB, sql string, args ...any) pgx.Row {
	t.Helper()
	db.mu.Lock()
	defer db.mu.Unlock()
	c, err := db.conn(t.Context())
	if err != nil {
		return &row{err: fmt.Errorf("connect to database %s: %w", db.Name, err)}
	}
	rows, err := c.Query(t.Context(), sql, args...)
	if err != nil {
		return &row{err: err}
	}
	defer rows.Close()
	r := &row{db: db, typeMap: c.TypeMap()}
	if rows.Next() {
		r.fields = slices.Clone(rows.FieldDescriptions())
		for _, v := range rows.RawValues() {
			r.values = append(r.values, slices.Clone(v))
		}
	} else {
		r.err = pgx.ErrNoRows
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		r.err = err
	}
	return r
}

// row is a row read by QueryRow, decoded on Scan with its connection's
// type map.
type row struct {
	db      *DB
	typeMap *pgtype.Map
	fields  []pgconn.FieldDescription
	values  [][]byte
	err     error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	r.db.mu.Lock() // the type map belongs to the connection
	defer r.db.mu.Unlock()
	return pgx.ScanRow(r.typeMap, r.fields, r.values, dest...)
}

// QueryValue runs a query returning one row of one column and returns it
// as a T, failing the test on error.
func QueryValue[T any](t testing.TB, db *DB, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := db.QueryRow(t, sql, args...).Scan(&v); err != nil {
		t.Fatalf("query %q on %s: %v", abbrev(sql), db.Name, err)
	}
	return v
}

// abbrev shortens a statement for an error message.
func abbrev(sql string) string {
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > 80 {
		return sql[:77] + "..."
	}
	return sql
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package benchkit

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/services"
)

// The names a benchmark creates on its private server.
const (
	// Database is the reference order database.
	Database = "bench"
	// Publication publishes CapturedTables.
	Publication = "bench"
	// SourceSlot is the pgoutput slot created before any load; every
	// reader drains a copy of it.
	SourceSlot = "bench_source"
)

// CapturedTables are the reference database's tables cdcflow captures (and
// the reference mapping reads): all but the busy, uncaptured audit log.
var CapturedTables = []string{"customers", "products", "orders", "order_lines", "payments", `"ShipmentTracking"`}

// Source is a benchmark's source database: a private PostgreSQL server
// with the reference database, its publication, the source slot and the
// reference workload written once.
type Source struct {
	// PG is the server.
	PG *services.Postgres
	// Conn is a connection to Database, for slot copies and the like.
	Conn *pgx.Conn
	// Workload is what was written.
	Workload Workload

	name string // the command's, for messages
}

// StartSource starts a private PostgreSQL server in dir, creates the
// reference database, the publication and the source slot, and writes the
// reference workload (at least changes captured row changes), telling
// stderr what it does. name is the benchmark command's, for messages. The
// caller calls Close.
func StartSource(ctx context.Context, name, dir string, o Options) (*Source, error) {
	changes := o.Changes
	pg, err := services.StartPostgres(ctx, services.PostgresOptions{Dir: dir})
	if err != nil {
		return nil, err
	}
	s := &Source{PG: pg, name: name}
	if s.Conn, err = setUp(ctx, pg, o); err != nil {
		s.Close(ctx)
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "writing the %s (at least %d captured row changes)...\n", o.Describe(), changes)
	if s.Workload, err = writeWorkload(ctx, pg.DSN(Database), s.Conn, o); err != nil {
		s.Close(ctx)
		return nil, err
	}
	w := s.Workload
	fmt.Fprintf(os.Stderr, "workload: %d captured row changes in %d transactions, %.1f MiB of WAL (%s to %s), written in %s\n",
		w.Changes, w.Transactions, w.MiB(), w.Start, w.End, w.Took.Round(time.Millisecond))
	return s, nil
}

// Close closes the connection and stops the server, waiting at most a
// minute, even when ctx is done. A failure to stop is printed on stderr
// (Close runs deferred, after the benchmark's result).
func (s *Source) Close(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if s.Conn != nil {
		s.Conn.Close(ctx)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.PG.Stop(sctx); err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
	}
}

// TempDir creates a working directory named after pattern (as
// os.MkdirTemp). With keep set it prints "what: dir" on stderr and the
// returned cleanup keeps it; otherwise cleanup removes it.
func TempDir(pattern string, keep bool, what string) (dir string, cleanup func(), err error) {
	if dir, err = os.MkdirTemp("", pattern); err != nil {
		return "", nil, err
	}
	if keep {
		fmt.Fprintf(os.Stderr, "%s: %s\n", what, dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// setUp creates the database of o's workload, the publication and the slot every
// reader's copy starts from, before any load. It returns a connection to
// Database, which the caller closes.
func setUp(ctx context.Context, pg *services.Postgres, o Options) (*pgx.Conn, error) {
	admin, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return nil, err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+Database)
	admin.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	conn, err := pgx.Connect(ctx, pg.DSN(Database))
	if err != nil {
		return nil, err
	}
	if o.Workload == WorkloadWide {
		err = loadgen.InitWide(ctx, conn, o.ReplicaFull)
	} else {
		err = loadgen.Init(ctx, conn)
	}
	if err != nil {
		conn.Close(ctx)
		return nil, err
	}
	for _, sql := range []string{
		fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)",
			Publication, strings.Join(o.Tables(), ", ")),
		fmt.Sprintf("SELECT pg_create_logical_replication_slot('%s', 'pgoutput')", SourceSlot),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("set up: %s: %w", sql, err)
		}
	}
	return conn, nil
}

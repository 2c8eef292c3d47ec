package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// NotReadyError lists what keeps the server from being captured, each
// problem one sentence that says what to run to fix it.
type NotReadyError struct {
	Problems []string
}

func (e *NotReadyError) Error() string {
	if len(e.Problems) == 1 {
		return "source not ready: " + e.Problems[0]
	}
	return "source not ready:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Preflight checks that the server and cfg's tables can be captured: server
// version 14 or later, wal_level logical, the role's REPLICATION and SELECT
// privileges and EXECUTE on pg_logical_emit_message, a free replication slot
// and WAL sender, the tables' existence and replica identity (of every leaf
// partition too), the publication (if it exists: its operations,
// publish_via_partition_root and tables; if not: whether the role may create
// it), the slot (if it exists: plugin, database, not lost) and, with
// FailoverSlot, the failover setup (JudgePrimary's failures). It returns nil
// when ready, a *NotReadyError listing every problem found, a *ConnectError
// when connecting cannot work, or the error that kept it from checking (e.g.
// connection refused). It changes nothing.
func Preflight(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.setDefaults()
	conn, err := pgx.Connect(ctx, cfg.DSN)
	if err != nil {
		err = fmt.Errorf("connect to source: %w", err)
		if fix := connectFix(err); fix != "" {
			return &ConnectError{Err: err, Fix: fix}
		}
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	p := &preflight{conn: conn, cfg: cfg}
	if err := p.server(ctx); err != nil {
		return err
	}
	if err := p.slots(ctx); err != nil {
		return err
	}
	if cfg.FailoverSlot {
		if err := p.failover(ctx); err != nil {
			return err
		}
	}
	tables, err := p.tables(ctx)
	if err != nil {
		return err
	}
	if cfg.SnapshotMode != SnapshotInitialOnly {
		if err := p.publication(ctx, tables); err != nil {
			return err
		}
	}
	if len(p.problems) > 0 {
		return &NotReadyError{Problems: p.problems}
	}
	return nil
}

// preflight gathers the problems Preflight finds, one check per method. A
// method returns an error only when it could not check.
type preflight struct {
	conn *pgx.Conn
	cfg  Config

	user     string // current_user, quoted
	super    bool
	problems []string
}

func (p *preflight) add(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// server checks the server version, wal_level and the role's REPLICATION
// attribute and EXECUTE on pg_logical_emit_message.
func (p *preflight) server(ctx context.Context) error {
	var version int
	var versionText, walLevel, user string
	var replication bool
	if err := p.conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_version'),
			current_setting('wal_level'), current_user, r.rolsuper, r.rolreplication
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&version, &versionText, &walLevel, &user, &p.super, &replication); err != nil {
		return fmt.Errorf("read server settings: %w", err)
	}
	if version < 140000 {
		p.add("PostgreSQL %s is too old: cdcflow needs 14 or later (pgoutput logical messages); upgrade the server", versionText)
	}
	if walLevel != "logical" {
		p.add("wal_level is %q: run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL", walLevel)
	}
	p.user = quoteIdent(user)
	if !p.super && !replication {
		p.add("role %s lacks the REPLICATION attribute: run ALTER ROLE %s WITH REPLICATION;", p.user, p.user)
	}
	var emit bool
	if err := p.conn.QueryRow(ctx, `SELECT has_function_privilege('pg_catalog.pg_logical_emit_message(boolean, text, text)', 'EXECUTE')`).Scan(&emit); err != nil {
		return fmt.Errorf("check EXECUTE on pg_logical_emit_message: %w", err)
	}
	if !emit {
		p.add("role %s may not execute pg_logical_emit_message (heartbeats and snapshot markers): run GRANT EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(boolean, text, text) TO %s;", p.user, p.user)
	}
	return nil
}

// slots checks that a replication slot and a WAL sender are free, and the
// configured slot if it exists: plugin, database, not lost.
func (p *preflight) slots(ctx context.Context) error {
	cfg := p.cfg
	slot, err := lookupSlot(ctx, p.conn, cfg.Slot)
	if err != nil {
		return err
	}
	var maxSlots, usedSlots, maxSenders, usedSenders int
	if err := p.conn.QueryRow(ctx, `SELECT current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots)::int,
			current_setting('max_wal_senders')::int, (SELECT count(*) FROM pg_stat_replication)::int`).
		Scan(&maxSlots, &usedSlots, &maxSenders, &usedSenders); err != nil {
		return fmt.Errorf("read replication limits: %w", err)
	}
	needSlots := 0
	if !slot.exists {
		needSlots = 1
		if cfg.SnapshotMode == SnapshotInitial && !cfg.Temporary {
			needSlots = 2 // the exporting temporary slot and its persistent copy
		}
	}
	if usedSlots+needSlots > maxSlots {
		p.add("max_replication_slots is %d and %d are in use, cdcflow needs %d more: raise it (ALTER SYSTEM SET max_replication_slots = %d; and restart PostgreSQL) or drop unused slots (SELECT slot_name, active FROM pg_replication_slots)",
			maxSlots, usedSlots, needSlots, usedSlots+needSlots+1)
	}
	if usedSenders+1 > maxSenders {
		p.add("max_wal_senders is %d and all are in use: raise it (ALTER SYSTEM SET max_wal_senders = %d; and restart PostgreSQL)", maxSenders, usedSenders+2)
	}
	if !slot.exists {
		return nil
	}
	var db string
	if err := p.conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		return fmt.Errorf("read database name: %w", err)
	}
	switch {
	case slot.plugin != "pgoutput":
		p.add("slot %q uses plugin %q, not pgoutput: drop it (SELECT pg_drop_replication_slot('%s');) or configure another slot name", cfg.Slot, slot.plugin, cfg.Slot)
	case slot.database != db:
		p.add("slot %q belongs to database %q, not %q: configure another slot name", cfg.Slot, slot.database, db)
	case slot.walStatus == "lost" && !cfg.DropLostSlot:
		p.add("slot %q was invalidated by PostgreSQL (wal_status = lost): drop it to start over with a new snapshot (SELECT pg_drop_replication_slot('%s');) or set capture.drop_lost_slot", cfg.Slot, cfg.Slot)
	}
	return nil
}

// failover checks, for a failover slot, what JudgePrimary fails: a server
// older than 17, a standby, an invalidated slot, a logical slot listed in
// synchronized_standby_slots.
func (p *preflight) failover(ctx context.Context) error {
	sf, err := ReadFailover(ctx, p.conn, p.cfg.Slot)
	if err != nil {
		return err
	}
	for _, f := range JudgePrimary(p.cfg.Slot, sf) {
		if f.Level == FailoverFail {
			p.add("%s is %s: %s", f.Name, f.Value, f.Fix)
		}
	}
	return nil
}

// tables checks that the configured tables exist, that the role may read
// them and their replica identity (of every leaf partition too). It returns
// the tables that exist.
func (p *preflight) tables(ctx context.Context) ([]table, error) {
	tables, err := resolveTables(ctx, p.conn, p.cfg.Tables)
	var unknown *UnknownTablesError
	switch {
	case errors.As(err, &unknown):
		p.add("%s", unknown.Error())
		tables = nil
		// Check the tables that exist all the same.
		for _, s := range p.cfg.Tables {
			if t, err := resolveTables(ctx, p.conn, []string{s}); err == nil {
				tables = append(tables, t...)
			}
		}
	case err != nil:
		return nil, err
	}
	for _, t := range tables {
		var sel bool
		if err := p.conn.QueryRow(ctx, "SELECT has_table_privilege($1::oid, 'SELECT')", t.oid).Scan(&sel); err != nil {
			return nil, fmt.Errorf("check SELECT on %s: %w", t.name, err)
		}
		if !sel {
			p.add("role %s may not read %s (the snapshot needs it): run GRANT SELECT ON %s TO %s;", p.user, t.name, t.name, p.user)
		}
		ips, err := identityProblems(ctx, p.conn, t)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			p.add("%s", ip.String())
		}
	}
	return tables, nil
}

// publication checks the publication if it exists (its operations,
// publish_via_partition_root and tables), and otherwise whether the role may
// create it.
func (p *preflight) publication(ctx context.Context, tables []table) error {
	name := p.cfg.Publication
	pub, err := lookupPublication(ctx, p.conn, name)
	if err != nil {
		return err
	}
	if pub.exists {
		p.problems = append(p.problems, pub.problems(name, tables)...)
		return nil
	}
	var canCreate bool
	if err := p.conn.QueryRow(ctx, "SELECT has_database_privilege(current_database(), 'CREATE')").Scan(&canCreate); err != nil {
		return fmt.Errorf("check CREATE on the database: %w", err)
	}
	var notOwned []string
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		names = append(names, t.name.String())
		var owns bool
		if err := p.conn.QueryRow(ctx, "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = $1", t.oid).Scan(&owns); err != nil {
			return fmt.Errorf("check ownership of %s: %w", t.name, err)
		}
		if !owns {
			notOwned = append(notOwned, t.name.String())
		}
	}
	if !p.super && (!canCreate || len(notOwned) > 0) {
		p.add("publication %s does not exist and role %s may not create it (that needs CREATE on the database and ownership of %s): have an administrator run CREATE PUBLICATION %s FOR TABLE %s WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);",
			quoteIdent(name), p.user, strings.Join(append(notOwned, "the tables")[:max(len(notOwned), 1)], ", "), quoteIdent(name), strings.Join(names, ", "))
	}
	return nil
}

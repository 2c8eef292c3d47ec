package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// identityProblem describes a table (or leaf partition) whose changes cannot
// be replicated safely: once in a publication, the legacy application's
// UPDATE and DELETE on it fail.
type identityProblem struct {
	table    string // quoted name of the table or leaf partition
	identity byte   // relreplident
}

func (p identityProblem) String() string {
	switch p.identity {
	case 'n':
		return fmt.Sprintf("%s has REPLICA IDENTITY NOTHING: run ALTER TABLE %s REPLICA IDENTITY DEFAULT (with a primary key) or REPLICA IDENTITY FULL", p.table, p.table)
	case 'i':
		return fmt.Sprintf("%s has REPLICA IDENTITY USING INDEX but the index is gone: run ALTER TABLE %s REPLICA IDENTITY USING INDEX <unique index> or REPLICA IDENTITY FULL", p.table, p.table)
	}
	return fmt.Sprintf("%s has no primary key: run ALTER TABLE %s ADD PRIMARY KEY (...), or ALTER TABLE %s REPLICA IDENTITY FULL", p.table, p.table, p.table)
}

// identityProblems checks the replica identity of t and, for a partitioned
// table, of every leaf partition.
func identityProblems(ctx context.Context, conn *pgx.Conn, t table) ([]identityProblem, error) {
	rows, err := conn.Query(ctx, `WITH RECURSIVE tree(relid) AS (
			SELECT $1::oid
			UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid)
		SELECT format('%I.%I', ns.nspname, c.relname), c.relreplident::text,
			EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisprimary),
			EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisreplident)
		FROM tree JOIN pg_class c ON c.oid = tree.relid JOIN pg_namespace ns ON ns.oid = c.relnamespace
		WHERE c.relkind = 'r'
		ORDER BY 1`, t.oid)
	if err != nil {
		return nil, fmt.Errorf("check replica identity of %s: %w", t.name, err)
	}
	var problems []identityProblem
	for rows.Next() {
		var name, ident string
		var pk, riIndex bool
		if err := rows.Scan(&name, &ident, &pk, &riIndex); err != nil {
			return nil, fmt.Errorf("check replica identity of %s: %w", t.name, err)
		}
		ok := ident == "f" || ident == "d" && pk || ident == "i" && riIndex
		if !ok {
			problems = append(problems, identityProblem{table: name, identity: ident[0]})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check replica identity of %s: %w", t.name, err)
	}
	return problems, nil
}

// publication is what the catalog says about a publication.
type publication struct {
	exists                           bool
	allTables, viaRoot               bool
	insert, update, delete, truncate bool
	tables                           map[TableName]bool // as pg_publication_tables lists them
}

func lookupPublication(ctx context.Context, conn *pgx.Conn, name string) (publication, error) {
	var p publication
	err := conn.QueryRow(ctx, `SELECT puballtables, pubviaroot, pubinsert, pubupdate, pubdelete, pubtruncate
		FROM pg_publication WHERE pubname = $1`, name).
		Scan(&p.allTables, &p.viaRoot, &p.insert, &p.update, &p.delete, &p.truncate)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("look up publication %q: %w", name, err)
	}
	p.exists = true
	p.tables = make(map[TableName]bool)
	rows, err := conn.Query(ctx, `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1`, name)
	if err != nil {
		return p, fmt.Errorf("list tables of publication %q: %w", name, err)
	}
	for rows.Next() {
		var n TableName
		if err := rows.Scan(&n.Schema, &n.Table); err != nil {
			return p, fmt.Errorf("list tables of publication %q: %w", name, err)
		}
		p.tables[n] = true
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("list tables of publication %q: %w", name, err)
	}
	return p, nil
}

// problems lists what makes an existing publication unusable for tables.
func (p publication) problems(name string, tables []table) []string {
	var out []string
	qname := quoteIdent(name)
	if !p.insert || !p.update || !p.delete || !p.truncate {
		out = append(out, fmt.Sprintf("publication %s does not publish every operation: run ALTER PUBLICATION %s SET (publish = 'insert, update, delete, truncate')", qname, qname))
	}
	var partitioned bool
	var missing []string
	for _, t := range tables {
		if t.kind == 'p' {
			partitioned = true
		}
		if !p.allTables && !p.tables[t.name] {
			missing = append(missing, t.name.String())
		}
	}
	if partitioned && !p.viaRoot {
		out = append(out, fmt.Sprintf("publication %s publishes partitions under their own names: run ALTER PUBLICATION %s SET (publish_via_partition_root = true)", qname, qname))
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("publication %s does not include %s: run ALTER PUBLICATION %s ADD TABLE %s (an existing slot then streams their changes from that point on, without their existing rows: drop the slot to snapshot them)",
			qname, strings.Join(missing, ", "), qname, strings.Join(missing, ", ")))
	}
	return out
}

// ensurePublication uses the publication if it exists and suits tables, or
// creates it. It never adds a table whose replica identity is unusable.
func ensurePublication(ctx context.Context, conn *pgx.Conn, name string, tables []table) error {
	p, err := lookupPublication(ctx, conn, name)
	if err != nil {
		return err
	}
	if p.exists {
		if probs := p.problems(name, tables); len(probs) > 0 {
			return &NotReadyError{Problems: probs}
		}
		return nil
	}
	var probs []string
	var names []string
	for _, t := range tables {
		ip, err := identityProblems(ctx, conn, t)
		if err != nil {
			return err
		}
		for _, p := range ip {
			probs = append(probs, p.String())
		}
		names = append(names, t.name.String())
	}
	if len(probs) > 0 {
		return &NotReadyError{Problems: probs}
	}
	sql := fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)",
		quoteIdent(name), strings.Join(names, ", "))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create publication %q (or have the tables' owner run: %s): %w", name, sql, err)
	}
	return nil
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// publicationColumns returns the column lists of the publication's tables
// (PostgreSQL 15: CREATE PUBLICATION ... FOR TABLE t (a, b)); a table that
// publishes every column has none.
func publicationColumns(ctx context.Context, conn *pgx.Conn, name string) (map[TableName][]string, error) {
	rows, err := conn.Query(ctx, `SELECT pt.schemaname, pt.tablename, pt.attnames,
			(SELECT count(*) FROM pg_attribute a WHERE a.attrelid = format('%I.%I', pt.schemaname, pt.tablename)::regclass
				AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
		FROM pg_publication_tables pt WHERE pt.pubname = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("read column lists of publication %q: %w", name, err)
	}
	out := make(map[TableName][]string)
	for rows.Next() {
		var n TableName
		var cols []string
		var all int64
		if err := rows.Scan(&n.Schema, &n.Table, &cols, &all); err != nil {
			return nil, fmt.Errorf("read column lists of publication %q: %w", name, err)
		}
		if int64(len(cols)) < all {
			out[n] = cols
		}
	}
	return out, rows.Err()
}

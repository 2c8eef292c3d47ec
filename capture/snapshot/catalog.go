package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
)

// table is everything Run needs to read one table: its Relation as pgoutput
// would describe it, and how to page through it.
type table struct {
	rel   *capture.Relation
	label string // schema.table, unquoted: metric label and log value
	src   source
	// cols is what the queries select: the Relation's columns, then any
	// pagination key column the publication's column list left out.
	cols []string
	// key holds the positions in cols of the keyset pagination key, in index
	// order, and keyOIDs their types; empty when the table is read by ctid.
	key     []int
	keyOIDs []uint32
	heaps   []heap // the heap tables a ctid read scans (the leaves of a partitioned table)
	// estimate is the number of rows pg_class.reltuples expects, 0 when unknown.
	estimate int64
}

// heap is one plain table scanned by ctid ranges.
type heap struct {
	src           source
	pages         int64   // pages in the table when the snapshot began
	tuplesPerPage float64 // 0 when unknown
}

// attr is one column as the catalog describes it.
type attr struct {
	num     int16
	name    string
	typeOID uint32
	typName string
	typMod  int32
}

// loadTable reads spec's table from the catalog as of the snapshot the
// transaction on conn imported. The columns and their Key flags match the
// Relation message pgoutput sends for the table: dropped and generated columns
// are left out, as are columns outside the publication's column list; Key marks
// the replica identity.
func loadTable(ctx context.Context, conn *pgx.Conn, spec Table) (*table, error) {
	var schema, name, kind, ident string
	err := conn.QueryRow(ctx, `
SELECT n.nspname, c.relname, c.relkind::text, c.relreplident::text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = $1`, spec.OID).Scan(&schema, &name, &kind, &ident)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("load table with OID %d: no such table in the snapshot", spec.OID)
	}
	if err != nil {
		return nil, fmt.Errorf("load table with OID %d: %w", spec.OID, err)
	}
	qname := capture.QuoteIdent(schema) + "." + capture.QuoteIdent(name)
	if kind != "r" && kind != "p" {
		return nil, fmt.Errorf("load table %s: relkind %q is not a table", qname, kind)
	}

	all, err := loadAttrs(ctx, conn, spec.OID)
	if err != nil {
		return nil, fmt.Errorf("load columns of %s: %w", qname, err)
	}
	attrs := all
	if spec.Columns != nil {
		if attrs, err = restrictAttrs(slices.Clone(all), spec.Columns); err != nil {
			return nil, fmt.Errorf("load columns of %s: %w", qname, err)
		}
	}
	pk, ri, err := loadIndexKeys(ctx, conn, spec.OID)
	if err != nil {
		return nil, fmt.Errorf("load keys of %s: %w", qname, err)
	}

	rel := newRelation(spec.OID, schema, name, ident[0], attrs, pk, ri)
	t := &table{
		rel:   rel,
		label: schema + "." + name,
		src:   source{schema: schema, name: name, only: kind == "r"},
	}
	for _, c := range rel.Columns {
		t.cols = append(t.cols, c.Name)
	}
	// Page by the primary key, else by the replica-identity index (unique,
	// not partial, NOT NULL: as good a key), else by ctid.
	pageKey := pk
	if len(pageKey) == 0 {
		pageKey = ri
	}
	if err := t.setKey(all, pageKey); err != nil {
		return nil, fmt.Errorf("load keys of %s: %w", qname, err)
	}

	if err := loadHeaps(ctx, conn, t, spec.OID); err != nil {
		return nil, fmt.Errorf("load partitions of %s: %w", qname, err)
	}
	return t, nil
}

// newRelation describes a table as pgoutput's Relation message does: attrs
// in order, Key marking the replica identity (the primary key pk, the index
// ri, or every column under REPLICA IDENTITY FULL).
func newRelation(oid uint32, schema, name string, ident byte, attrs []attr, pk, ri []int16) *capture.Relation {
	rel := &capture.Relation{
		OID:             oid,
		Schema:          schema,
		Table:           name,
		ReplicaIdentity: capture.ReplicaIdentity(ident),
	}
	var identity []int16
	switch rel.ReplicaIdentity {
	case capture.IdentityDefault:
		identity = pk
	case capture.IdentityIndex:
		identity = ri
	}
	for _, a := range attrs {
		rel.Columns = append(rel.Columns, capture.Column{
			Name:     a.name,
			TypeOID:  a.typeOID,
			TypeName: a.typName,
			TypeMod:  a.typMod,
			Key:      rel.ReplicaIdentity == capture.IdentityFull || slices.Contains(identity, a.num),
		})
	}
	return rel
}

// setKey makes the columns numbered key (of all, the table's columns) the
// keyset pagination key, selecting any the column list left out.
func (t *table) setKey(all []attr, key []int16) error {
	for _, num := range key {
		i := slices.IndexFunc(all, func(a attr) bool { return a.num == num })
		if i < 0 {
			return fmt.Errorf("key column %d not found", num)
		}
		pos := slices.Index(t.cols, all[i].name)
		if pos < 0 {
			pos = len(t.cols)
			t.cols = append(t.cols, all[i].name)
		}
		t.key = append(t.key, pos)
		t.keyOIDs = append(t.keyOIDs, all[i].typeOID)
	}
	return nil
}

// loadAttrs returns the table's live, non-generated columns in attnum order,
// which is the order pgoutput sends them in. A domain's type name is its base
// type's, as in the Type message pgoutput sends for it (logicalrep_write_typ
// names getBaseType's type), so both decode a domain's values alike.
func loadAttrs(ctx context.Context, conn *pgx.Conn, oid uint32) ([]attr, error) {
	rows, err := conn.Query(ctx, `
SELECT a.attnum, a.attname, a.atttypid,
       (WITH RECURSIVE base(typname, typtype, typbasetype) AS (
            SELECT t.typname, t.typtype, t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid
            UNION ALL
            SELECT t.typname, t.typtype, t.typbasetype
            FROM pg_catalog.pg_type t JOIN base b ON t.oid = b.typbasetype
            WHERE b.typtype = 'd')
        SELECT typname FROM base WHERE typtype <> 'd'),
       a.atttypmod
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum`, oid)
	if err != nil {
		return nil, err
	}
	var attrs []attr
	var a attr
	_, err = pgx.ForEachRow(rows, []any{&a.num, &a.name, &a.typeOID, &a.typName, &a.typMod}, func() error {
		attrs = append(attrs, a)
		return nil
	})
	return attrs, err
}

// restrictAttrs keeps the attributes named in a publication column list, in
// attnum order (pgoutput ignores the order of the list).
func restrictAttrs(attrs []attr, names []string) ([]attr, error) {
	for _, n := range names {
		if !slices.ContainsFunc(attrs, func(a attr) bool { return a.name == n }) {
			return nil, fmt.Errorf("column list names %q, which the table does not have", n)
		}
	}
	return slices.DeleteFunc(attrs, func(a attr) bool { return !slices.Contains(names, a.name) }), nil
}

// loadIndexKeys returns the column numbers, in index order, of the primary key
// and of the replica-identity index (REPLICA IDENTITY USING INDEX).
func loadIndexKeys(ctx context.Context, conn *pgx.Conn, oid uint32) (pk, ri []int16, err error) {
	rows, err := conn.Query(ctx, `
SELECT i.indisprimary, i.indisreplident, i.indkey::int2[]
FROM pg_catalog.pg_index i
WHERE i.indrelid = $1 AND (i.indisprimary OR i.indisreplident)`, oid)
	if err != nil {
		return nil, nil, err
	}
	var primary, replident bool
	var keys []int16
	_, err = pgx.ForEachRow(rows, []any{&primary, &replident, &keys}, func() error {
		if primary {
			pk = slices.Clone(keys)
		}
		if replident {
			ri = slices.Clone(keys)
		}
		return nil
	})
	return pk, ri, err
}

// loadHeaps fills in the row estimate and, for a table without a pagination
// key, the plain tables its ctid read scans: the table itself, or every leaf
// partition of a partitioned table (pg_partition_tree lists nothing for a
// plain table). The page count is the file's size now,
// inside the snapshot: every row the snapshot sees was written before it, so
// lies in a page that already existed, and VACUUM cannot truncate a page
// holding a row a running snapshot still sees.
func loadHeaps(ctx context.Context, conn *pgx.Conn, t *table, oid uint32) error {
	rows, err := conn.Query(ctx, `
SELECT n.nspname, c.relname, c.reltuples::float8, c.relpages::int8,
       pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int8
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND (c.oid = $1 OR c.oid IN (SELECT relid FROM pg_catalog.pg_partition_tree($1::oid::regclass)))
ORDER BY c.oid`, oid)
	if err != nil {
		return err
	}
	var h heap
	var tuples float64
	var statPages int64
	_, err = pgx.ForEachRow(rows, []any{&h.src.schema, &h.src.name, &tuples, &statPages, &h.pages}, func() error {
		// reltuples is -1 until the table is first vacuumed or analyzed.
		if tuples > 0 {
			t.estimate += int64(tuples)
			if statPages > 0 {
				h.tuplesPerPage = tuples / float64(statPages)
			}
		}
		h.src.only = true
		t.heaps = append(t.heaps, h)
		h = heap{}
		return nil
	})
	return err
}

package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
)

// ColumnFacts are what the catalog says about a column beyond its type (which
// capture.Column carries): whether it may be NULL, an enum's labels, and how
// it is stored. Drafting event schemas needs them.
type ColumnFacts struct {
	// NotNull is true when the column, or the domain it is of, is NOT NULL.
	NotNull bool
	// Enum lists the labels of the column's enum type in their sort order
	// (of the element type, for an array of an enum; of the base type, for
	// a domain over one); nil for other types.
	Enum []string
	// Storage is the column's attstorage: 'p' plain (never TOASTed), 'm'
	// main, 'e' external, 'x' extended.
	Storage byte
}

// DescribeColumns returns the ColumnFacts of every column of rel (as
// Describe returned it), by column name. It only reads the catalog.
func DescribeColumns(ctx context.Context, conn *pgx.Conn, rel *capture.Relation) (map[string]ColumnFacts, error) {
	rows, err := conn.Query(ctx, `
SELECT a.attname, a.attnotnull OR t.typnotnull, a.attstorage::text,
       COALESCE((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                 FROM pg_catalog.pg_enum e
                 WHERE e.enumtypid = CASE WHEN b.typcategory = 'A' THEN b.typelem ELSE b.oid END), '{}')
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`, rel.OID)
	if err != nil {
		return nil, fmt.Errorf("describe columns of %s: %w", rel.QualifiedName(), err)
	}
	out := map[string]ColumnFacts{}
	for rows.Next() {
		var name, storage string
		var f ColumnFacts
		if err := rows.Scan(&name, &f.NotNull, &storage, &f.Enum); err != nil {
			return nil, fmt.Errorf("describe columns of %s: %w", rel.QualifiedName(), err)
		}
		if len(f.Enum) == 0 {
			f.Enum = nil
		}
		if storage != "" {
			f.Storage = storage[0]
		}
		out[name] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describe columns of %s: %w", rel.QualifiedName(), err)
	}
	return out, nil
}

package snapshot

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
)

// Describe reads the named tables from the catalog and returns their
// Relations as pgoutput would describe them at this moment: live,
// non-generated columns in table order, their type names (a domain as its
// base type), the replica identity and which columns belong to it. Names are
// SQL names as in capture's configuration (schema.table, mixed case quoted:
// public."OrderLines"; a bare name means the search path's table). It reads
// the whole table; a publication's column list is not applied. An unknown
// table is an error that names it.
//
// Describe lets a mapping be checked against the live schema before anything
// runs; it changes nothing and needs only SELECT on the catalog.
func Describe(ctx context.Context, conn *pgx.Conn, names []string) ([]*capture.Relation, error) {
	rels := make([]*capture.Relation, 0, len(names))
	for _, name := range names {
		var oid *uint32
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1)::oid`, name).Scan(&oid); err != nil {
			return nil, fmt.Errorf("describe table %s: %w", name, err)
		}
		if oid == nil {
			return nil, fmt.Errorf("describe table %s: no such table (check its schema, and quote mixed-case names: public.\"OrderLines\")", name)
		}
		t, err := loadTable(ctx, conn, Table{OID: *oid})
		if err != nil {
			return nil, fmt.Errorf("describe table %s: %w", name, err)
		}
		rels = append(rels, t.rel)
	}
	return rels, nil
}

package schemafiles

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/pipeline"
)

// DraftInputs loads the mapping in mappingFile without its schemas (they
// may be missing or incomplete: that is why they are being drafted),
// checked against the live tables conn reads, and reads the column facts
// pipeline.Mapping.DraftSchemas needs. timezone is the source's zone for
// timestamps without one. conn stays the caller's.
func DraftInputs(ctx context.Context, conn *pgx.Conn, mappingFile, timezone string) (*pipeline.Mapping, pipeline.DraftTables, error) {
	// Load the mapping first to learn its tables.
	plain, err := loadSkipSchemas(mappingFile, timezone, nil)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(plain.Tables()))
	for _, t := range plain.Tables() {
		names = append(names, t.String())
	}
	rels, err := snapshot.Describe(ctx, conn, names)
	if err != nil {
		return nil, nil, fmt.Errorf("schemas draft: %w", err)
	}
	m, err := loadSkipSchemas(mappingFile, timezone, pipeline.SchemaOf(rels...))
	if err != nil {
		return nil, nil, err
	}
	tables := pipeline.DraftTables{}
	for _, rel := range rels {
		facts, err := snapshot.DescribeColumns(ctx, conn, rel)
		if err != nil {
			return nil, nil, fmt.Errorf("schemas draft: %w", err)
		}
		tables[pipeline.RelationName(rel)] = draftColumns(rel, facts)
	}
	return m, tables, nil
}

// draftColumns joins rel's columns with their facts.
func draftColumns(rel *capture.Relation, facts map[string]snapshot.ColumnFacts) map[string]pipeline.DraftColumn {
	cols := make(map[string]pipeline.DraftColumn, len(rel.Columns))
	for _, c := range rel.Columns {
		f := facts[c.Name]
		cols[c.Name] = pipeline.DraftColumn{Type: c.TypeName, NotNull: f.NotNull, Enum: f.Enum,
			// Under REPLICA IDENTITY FULL the old row carries an
			// unchanged TOASTed value, so it is never left out.
			Toastable: f.Storage != 'p' && rel.ReplicaIdentity != capture.IdentityFull}
	}
	return cols
}

// loadSkipSchemas loads the mapping in file without reading its schemas.
func loadSkipSchemas(file, timezone string, schema pipeline.Schema) (*pipeline.Mapping, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("load mapping %s: %w", file, err)
	}
	m, err := pipeline.Load(os.DirFS(filepath.Dir(abs)), filepath.Base(abs),
		pipeline.LoadOptions{Schema: schema, Timezone: timezone, SkipSchemas: true})
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", file, err)
	}
	return m, nil
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/pipeline"
)

func init() {
	register(command{
		name:    "schemas",
		usage:   "schemas draft|derived [flags]",
		summary: "draft the JSON Schemas of the mapping's events from the live table types, or write those of the CEP rules' derived events",
		description: "\"schemas draft\" reads the mapping and the types of the columns its rules read from\n" +
			"source.dsn, and writes a JSON Schema (draft-07) for the current version of every event\n" +
			"type into the mapping's schemas directory (or --out), so that validation can start.\n" +
			"It never overwrites a file unless --force is given. A field a CEL expression computes\n" +
			"without a fixed type gets a schema that accepts anything and says so: edit it.\n" +
			"\"schemas derived --rules FILE\" writes the schema of every event type and version the\n" +
			"CEP rules derive beside the mapped events' (files only, no database), inferred from\n" +
			"each emit data expression and the schemas of the events it reads; the mapping then\n" +
			"validates and catalogues derived events like its own. An existing file that differs\n" +
			"is reported (a released version's schema never changes: bump the emit version).",
		example: "cdcflow schemas draft --config cdcflow.yaml\ncdcflow schemas draft --config cdcflow.yaml --out ./schemas --force\ncdcflow schemas derived --config cdcflow.yaml --rules cep.yaml",
		run:     runSchemas,
	})
}

// runSchemas runs "cdcflow schemas draft": the schema derivation is
// pipeline.Mapping.DraftSchemas; this wires the live catalog to it and
// writes the files.
func runSchemas(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "derived" {
		return runSchemasDerived(args[1:], stdout, stderr)
	}
	draft := len(args) > 0 && args[0] == "draft"
	if draft {
		args = args[1:]
	}
	fs := newFlagSet("schemas", stderr)
	path := configFlag(fs)
	mappingFile := fs.String("mapping", "", "mapping `file` (default: mapping.file)")
	out := fs.String("out", "", "write the schemas into this `directory` (default: the mapping's schemas directory, else schemas/ next to it)")
	force := fs.Bool("force", false, "overwrite schema files that exist")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the source after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !draft {
		return fmt.Errorf("%w: schemas: want the subcommand draft or derived (cdcflow schemas draft|derived [flags])", errUsage)
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	if *mappingFile != "" {
		cfg.Mapping.File = *mappingFile
	}
	if cfg.Mapping.File == "" {
		return config.ErrNoMappingFile
	}
	if cfg.Source.DSN == "" {
		return errors.New("schemas draft: source.dsn is not set: the drafts come from the live column types")
	}
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	m, tables, err := draftInputs(cctx, cfg)
	if err != nil {
		return err
	}
	drafts, err := m.DraftSchemas(tables)
	if err != nil {
		return err
	}

	mapDir := filepath.Dir(cfg.Mapping.File)
	dir := *out
	if dir == "" {
		dir = filepath.Join(mapDir, "schemas")
		if m.SchemasDir() != "" {
			dir = filepath.Join(mapDir, m.SchemasDir())
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("schemas draft: %w", err)
	}
	kept := 0
	for _, d := range drafts {
		file := filepath.Join(dir, d.File)
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if *force {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(file, flags, 0o644)
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintf(stdout, "kept   %s (it exists; --force overwrites it)\n", file)
			kept++
			continue
		}
		if err == nil {
			_, err = f.Write(d.JSON)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			return fmt.Errorf("schemas draft: write %s: %w", file, err)
		}
		fmt.Fprintf(stdout, "wrote  %s\n", file)
		for _, u := range d.Unknown {
			fmt.Fprintf(stdout, "       field %s: its type is not known (a CEL expression): the draft accepts any value; edit it\n", u)
		}
	}
	rel, err := filepath.Rel(mapDir, dir)
	if err != nil {
		rel = dir
	}
	rel = filepath.ToSlash(rel)
	fmt.Fprintf(stdout, "\n%d schema(s) drafted, %d written, %d kept.\n", len(drafts), len(drafts)-kept, kept)
	if m.SchemasDir() != rel {
		fmt.Fprintf(stdout, "Add to %s (the schemas directory, relative to the mapping):\n\n  schemas: %s\n\n", cfg.Mapping.File, rel)
	} else {
		fmt.Fprintf(stdout, "%s already names them (schemas: %s).\n", cfg.Mapping.File, rel)
	}
	fmt.Fprintf(stdout, "Review the drafts, then run: cdcflow check%s\n", configArg(*path))
	return nil
}

// runSchemasDerived runs "cdcflow schemas derived": the inference is
// cep.Rules.DerivedSchemas; this loads the mapping (with its schemas) and
// the rules, checks them, and writes the files that are missing.
func runSchemasDerived(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("schemas derived", stderr)
	path := configFlag(fs)
	mappingFile := fs.String("mapping", "", "mapping `file` (default: mapping.file)")
	rulesFile := fs.String("rules", "", "CEP rules `file` (required)")
	out := fs.String("out", "", "write the schemas into this `directory` (default: the mapping's schemas directory)")
	force := fs.Bool("force", false, "overwrite schema files that differ")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rulesFile == "" {
		return fmt.Errorf("%w: schemas derived: --rules is required", errUsage)
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	if *mappingFile != "" {
		cfg.Mapping.File = *mappingFile
	}
	if cfg.Mapping.File == "" {
		return config.ErrNoMappingFile
	}
	m, err := config.LoadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		return err
	}
	rs, err := parseRulesFile(*rulesFile)
	if err != nil {
		return err
	}
	if err := rs.Check(m); err != nil {
		return ruleProblems(err)
	}
	ds, err := rs.DerivedSchemas(m)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join(filepath.Dir(cfg.Mapping.File), "schemas")
		if m.SchemasDir() != "" {
			dir = filepath.Join(filepath.Dir(cfg.Mapping.File), m.SchemasDir())
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("schemas derived: %w", err)
	}
	var differ []string
	for _, d := range ds {
		file := filepath.Join(dir, d.File)
		old, err := os.ReadFile(file)
		switch {
		case err == nil && bytes.Equal(old, d.JSON):
			fmt.Fprintf(stdout, "same   %s\n", file)
			continue
		case err == nil && !*force:
			fmt.Fprintf(stdout, "DIFFERS %s (rule %s): a released version's schema never changes: give the rule's emit a new version (--force overwrites)\n", file, d.Rule)
			differ = append(differ, d.File)
			continue
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("schemas derived: %w", err)
		}
		if err := os.WriteFile(file, d.JSON, 0o644); err != nil {
			return fmt.Errorf("schemas derived: write %s: %w", file, err)
		}
		fmt.Fprintf(stdout, "wrote  %s (rule %s)\n", file, d.Rule)
		for _, u := range d.Unknown {
			fmt.Fprintf(stdout, "       field %s: its type is not known (a CEL expression): the schema accepts any value; edit it\n", u)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("schemas derived: %d schema(s) differ from what the rules derive: %s", len(differ), strings.Join(differ, ", "))
	}
	return nil
}

// draftInputs loads the mapping without its schemas, checked against the
// live tables, and reads the column facts DraftSchemas needs.
func draftInputs(ctx context.Context, cfg *config.Config) (*pipeline.Mapping, pipeline.DraftTables, error) {
	conn, err := pgx.Connect(ctx, cfg.Source.DSN)
	if err != nil {
		return nil, nil, fmt.Errorf("schemas draft: connect to source.dsn: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The schemas the mapping names may be missing or incomplete: that is
	// why we are here. Load it without them, first to learn its tables.
	plain, err := loadMappingSkipSchemas(cfg, nil)
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
	m, err := loadMappingSkipSchemas(cfg, pipeline.SchemaOf(rels...))
	if err != nil {
		return nil, nil, err
	}
	tables := pipeline.DraftTables{}
	for _, rel := range rels {
		facts, err := snapshot.DescribeColumns(ctx, conn, rel)
		if err != nil {
			return nil, nil, fmt.Errorf("schemas draft: %w", err)
		}
		cols := map[string]pipeline.DraftColumn{}
		for _, c := range rel.Columns {
			f := facts[c.Name]
			cols[c.Name] = pipeline.DraftColumn{Type: c.TypeName, NotNull: f.NotNull, Enum: f.Enum,
				// Under REPLICA IDENTITY FULL the old row carries an
				// unchanged TOASTed value, so it is never left out.
				Toastable: f.Storage != 'p' && rel.ReplicaIdentity != capture.IdentityFull}
		}
		tables[pipeline.RelationName(rel)] = cols
	}
	return m, tables, nil
}

// loadMappingSkipSchemas loads the mapping without reading its schemas.
func loadMappingSkipSchemas(cfg *config.Config, schema pipeline.Schema) (*pipeline.Mapping, error) {
	abs, err := filepath.Abs(cfg.Mapping.File)
	if err != nil {
		return nil, fmt.Errorf("load mapping %s: %w", cfg.Mapping.File, err)
	}
	m, err := pipeline.Load(os.DirFS(filepath.Dir(abs)), filepath.Base(abs),
		pipeline.LoadOptions{Schema: schema, Timezone: cfg.Source.Timezone, SkipSchemas: true})
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", cfg.Mapping.File, err)
	}
	return m, nil
}

// configArg is " --config FILE" for a message, or "" without a file.
func configArg(path string) string {
	if path == "" {
		return ""
	}
	return " --config " + path
}

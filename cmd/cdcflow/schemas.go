package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/schemafiles"
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
// pipeline.Mapping.DraftSchemas over the column facts
// schemafiles.DraftInputs reads; schemafiles writes the files. This parses
// the flags and opens the connection.
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
	conn, err := pgx.Connect(cctx, cfg.Source.DSN)
	if err != nil {
		return fmt.Errorf("schemas draft: connect to source.dsn: %w", err)
	}
	defer conn.Close(context.WithoutCancel(cctx))
	m, tables, err := schemafiles.DraftInputs(cctx, conn, cfg.Mapping.File, cfg.Source.Timezone)
	if err != nil {
		return err
	}
	drafts, err := m.DraftSchemas(tables)
	if err != nil {
		return err
	}
	dir := schemafiles.Dir(cfg.Mapping.File, m.SchemasDir(), *out)
	kept, err := schemafiles.WriteDrafts(stdout, dir, drafts, *force)
	if err != nil {
		return err
	}
	schemafiles.WriteDraftSummary(stdout, cfg.Mapping.File, m.SchemasDir(), dir, len(drafts), kept, "cdcflow check"+configArg(*path))
	return nil
}

// runSchemasDerived runs "cdcflow schemas derived": the inference is
// cep.Rules.DerivedSchemas; this loads the mapping (with its schemas) and
// the rules, checks them, and has schemafiles.WriteDerived write the files.
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
		return cep.ProblemLines(err)
	}
	ds, err := rs.DerivedSchemas(m)
	if err != nil {
		return err
	}
	return schemafiles.WriteDerived(stdout, schemafiles.Dir(cfg.Mapping.File, m.SchemasDir(), *out), ds, *force)
}

// configArg is " --config FILE" for a message, or "" without a file.
func configArg(path string) string {
	if path == "" {
		return ""
	}
	return " --config " + path
}

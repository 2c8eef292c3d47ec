package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/pipeline"
)

func init() {
	register(command{name: "catalog", summary: "write the AsyncAPI 3.0 catalogue of the mapping's topics and events", description: "The AsyncAPI 3.0 document (JSON) names the mapping's channels, messages and schemas.",
		run:     runCatalog,
		example: "cdcflow catalog --config cdcflow.yaml > asyncapi.yaml"})
}

// runCatalog writes the AsyncAPI document generated from the mapping: one
// channel per topic, one message per event type and schema version. It reads
// only files, never the database.
func runCatalog(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("catalog", stderr)
	path := configFlag(fs)
	mappingFile := fs.String("mapping", "", "mapping `file`; default mapping.file of the configuration")
	out := fs.String("out", "", "write the document to this `file` instead of standard output")
	title := fs.String("title", "", "document title (default \"cdcflow events\")")
	version := fs.String("version", "", "document version (default 1.0.0)")
	rulesFile := fs.String("rules", "", "CEP rules `file`: catalogue the events its rules derive too")
	cepTopic := fs.String("cep-topic", "", "`topic` of the derived events (default: the topic prefix + cep, where cdcflow cep writes them)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	file, timezone := *mappingFile, ""
	if *path != "" || file == "" {
		cfg, err := config.Load(*path, os.Environ())
		if err != nil {
			return err
		}
		if file == "" {
			file = cfg.Mapping.File
		}
		timezone = cfg.Source.Timezone
	}
	m, err := config.LoadMappingFile(file, nil, timezone)
	if err != nil {
		return err
	}
	opts := pipeline.CatalogOptions{Title: *title, Version: *version}
	if *rulesFile != "" {
		rs, err := parseRulesFile(*rulesFile)
		if err != nil {
			return err
		}
		if err := rs.Check(m); err != nil {
			return cep.ProblemLines(err)
		}
		if opts.Derived, err = rs.Catalog(m, *cepTopic); err != nil {
			return err
		}
	}
	doc, err := m.Catalog(opts)
	if err != nil {
		return fmt.Errorf("generate catalogue: %w", err)
	}
	doc = append(doc, '\n')
	if *out == "" {
		_, err = stdout.Write(doc)
		return err
	}
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		return fmt.Errorf("write catalogue: %w", err)
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/internal/checks"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/pipeline"
)

func init() {
	register(command{
		name:        "check",
		summary:     "check the configuration, the mapping against the live schema, the views against the mapping, the source's readiness and the schema versions",
		description: "It checks the configuration; the mapping (CEL, schemas) and, when source.dsn is set,\nevery table and column it uses against the live database; the views file, when\nviews.file or --views names one, against the mapping's event types and schemas\n(every data field a view reads must be in its event's schema); the source's readiness\nfor capture (wal_level, privileges, replica identity, publication, slot); and that\nevery schema version upcasts to the current one. With --rules it checks a CEP rules\nfile against the mapping's events and schemas (each problem as file:line: rule) and\nthe derived events' schema files, and checks the views with the derived types known.\nExit status 1 when a check fails.",
		run:         runCheck,
		example:     "cdcflow check --config cdcflow.yaml\ncdcflow check --config cdcflow.yaml --offline --forward   # files only, and forward compatibility\ncdcflow check --config cdcflow.yaml --offline --rules cep.yaml --views overdue.views.yaml",
	})
}

// runCheck runs, in order, every check that can be made before cdcflow runs
// and prints one line per check with its problems indented below it. A check
// that cannot run because an earlier one failed says so. It changes nothing:
// no publication, slot or topic is created.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr)
	path := configFlag(fs)
	mappingFile := fs.String("mapping", "", "mapping `file` (default: mapping.file)")
	viewsFile := fs.String("views", "", "view definitions `file` to check against the mapping (default: views.file)")
	rulesFile := fs.String("rules", "", "CEP rules `file` to check against the mapping's event schemas (default: cep.file)")
	offline := fs.Bool("offline", false, "do not connect to the source: check files only")
	forward := fs.Bool("forward", false, "also check that each schema version is FORWARD compatible with the one before")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the source after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	r := checks.NewReport(stdout)
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		r.Fail("configuration", err)
		return r.Result()
	}
	r.OK("configuration", describeConfigPath(*path))
	if *mappingFile != "" {
		cfg.Mapping.File = *mappingFile
	}
	if *viewsFile != "" {
		cfg.Views.File = *viewsFile
	}

	mapping, err := config.LoadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		r.Fail("mapping", err)
		r.Skip("live schema", "the mapping did not load")
		r.Skip("schema versions", "the mapping did not load")
		if cfg.Views.File != "" {
			r.Skip("views", "the mapping did not load")
		}
		return r.Result()
	}
	// The mapper run builds: a mapping run refuses (no schemas while
	// validation is on) fails here too.
	if _, err := pipeline.NewMapper(mapping, cfg.Mapping.MapperOptions()); err != nil {
		r.Fail("mapping", err)
	} else {
		r.OK("mapping", fmt.Sprintf("%s: %d table(s), %d aggregate type(s), %d event type(s)",
			cfg.Mapping.File, len(mapping.Tables()), len(mapping.AggregateTypes()), len(mapping.EventTypes())))
	}

	if *rulesFile == "" {
		*rulesFile = cfg.CEP.File // the rules cdcflow cep and run use
	}
	var rules *cep.Rules
	if *rulesFile != "" {
		rules, err = parseRulesFile(*rulesFile)
	}
	if derived := checks.Rules(r, *rulesFile, rules, err, mapping); derived != nil {
		// Views may follow the derived events too.
		mapping = mapping.WithDerived(derived)
	}
	checks.Views(r, cfg.Views.File, mapping)

	switch {
	case *offline:
		r.Skip("live schema", "--offline")
		r.Skip("source readiness", "--offline")
	case cfg.Source.DSN == "":
		r.Skip("live schema", "source.dsn is not set")
		r.Skip("source readiness", "source.dsn is not set")
	default:
		tables := make([]string, 0, len(mapping.Tables()))
		for _, t := range mapping.Tables() {
			tables = append(tables, t.String())
		}
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		checks.CheckSource(cctx, r, checks.Source{DSN: cfg.Source.DSN, Tables: tables, Replication: cfg.ReplicationConfig(),
			Remap: func(live pipeline.Schema) error {
				_, err := config.LoadMappingFile(cfg.Mapping.File, live, cfg.Source.Timezone)
				return err
			}})
		cancel()
	}

	if err := mapping.CheckUpcasts(); err != nil {
		r.Fail("schema versions", err)
	} else {
		r.OK("schema versions", "every version upcasts to the current one")
	}
	if *forward {
		if err := mapping.CheckForward(); err != nil {
			r.Fail("forward compatibility", err)
		} else {
			r.OK("forward compatibility", "each version is readable by consumers of the one before")
		}
	}
	return r.Result()
}

func describeConfigPath(path string) string {
	if path == "" {
		return "environment only"
	}
	return path
}

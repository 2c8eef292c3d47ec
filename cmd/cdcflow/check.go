package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
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

// errCheckFailed is returned when at least one check found a problem.
var errCheckFailed = errors.New("check failed")

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

	r := &checkReport{w: stdout}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		r.fail("configuration", err)
		return r.result()
	}
	r.ok("configuration", describeConfigPath(*path))
	if *mappingFile != "" {
		cfg.Mapping.File = *mappingFile
	}
	if *viewsFile != "" {
		cfg.Views.File = *viewsFile
	}

	mapping, err := config.LoadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		r.fail("mapping", err)
		r.skip("live schema", "the mapping did not load")
		r.skip("schema versions", "the mapping did not load")
		if cfg.Views.File != "" {
			r.skip("views", "the mapping did not load")
		}
		return r.result()
	}
	// The mapper run builds: a mapping run refuses (no schemas while
	// validation is on) fails here too.
	if _, err := pipeline.NewMapper(mapping, cfg.Mapping.MapperOptions()); err != nil {
		r.fail("mapping", err)
	} else {
		r.ok("mapping", fmt.Sprintf("%s: %d table(s), %d aggregate type(s), %d event type(s)",
			cfg.Mapping.File, len(mapping.Tables()), len(mapping.AggregateTypes()), len(mapping.EventTypes())))
	}

	if *rulesFile == "" {
		*rulesFile = cfg.CEP.File // the rules cdcflow cep and run use
	}
	if derived := checkRules(r, *rulesFile, mapping); derived != nil {
		// Views may follow the derived events too.
		mapping = mapping.WithDerived(derived)
	}
	checkViews(r, cfg, mapping)

	switch {
	case *offline:
		r.skip("live schema", "--offline")
		r.skip("source readiness", "--offline")
	case cfg.Source.DSN == "":
		r.skip("live schema", "source.dsn is not set")
		r.skip("source readiness", "source.dsn is not set")
	default:
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		checkSource(cctx, r, cfg, mapping)
		cancel()
	}

	if err := mapping.CheckUpcasts(); err != nil {
		r.fail("schema versions", err)
	} else {
		r.ok("schema versions", "every version upcasts to the current one")
	}
	if *forward {
		if err := mapping.CheckForward(); err != nil {
			r.fail("forward compatibility", err)
		} else {
			r.ok("forward compatibility", "each version is readable by consumers of the one before")
		}
	}
	return r.result()
}

// checkRules checks the CEP rules file, when one is given, against the
// mapping's event types and schemas (cep.Rules.Check: every type a rule
// matches, every data field an expression reads, with file and line), and
// the derived events' schemas in the mapping's schemas directory against
// what the rules derive (cep.Rules.CheckSchemas). It returns the derived
// event types, for checking views over them; nil when there is no rules
// file or it fails.
func checkRules(r *checkReport, file string, m *pipeline.Mapping) []pipeline.EventType {
	if file == "" {
		r.skip("cep rules", "no rules file (--rules)")
		return nil
	}
	rs, err := parseRulesFile(file)
	if err == nil {
		err = cep.ProblemLines(rs.Check(m))
	}
	if err != nil {
		r.fail("cep rules", err)
		return nil
	}
	derived, missing, err := rs.CheckSchemas(m)
	if err != nil {
		r.fail("cep rules", err)
		return nil
	}
	detail := fmt.Sprintf("%s: %d rule(s) match the mapping's events, %d derived type(s)", file, len(rs.Names()), len(derived))
	if len(missing) > 0 {
		detail += fmt.Sprintf("; no schema yet for %s (cdcflow schemas derived writes them)", strings.Join(missing, ", "))
	}
	r.ok("cep rules", detail)
	return derived
}

// checkViews checks the view definitions file, when one is configured,
// against the mapping: it parses (CEL compiles) and every view follows
// aggregate and event types the mapping produces and reads only data fields
// their schemas declare (redisview.CheckFile).
func checkViews(r *checkReport, cfg *config.Config, mapping *pipeline.Mapping) {
	file := cfg.Views.File
	if file == "" {
		// views.enabled without views.file fails the configuration check.
		r.skip("views", "no views file (views.file, or --views)")
		return
	}
	src, err := os.ReadFile(file)
	if err != nil {
		r.fail("views", fmt.Errorf("views.file: %w", err))
		return
	}
	defs, err := redisview.CheckFile(file, src, mapping)
	if err != nil {
		r.fail("views", err)
		return
	}
	r.ok("views", fmt.Sprintf("%s: %d view(s) match the mapping's events", file, len(defs.Names())))
}

// checkSource checks the mapping against the live tables and the server's
// readiness for capture.
func checkSource(ctx context.Context, r *checkReport, cfg *config.Config, mapping *pipeline.Mapping) {
	conn, err := pgx.Connect(ctx, cfg.Source.DSN)
	if err != nil {
		// pgx's connect errors name host and user, never the password.
		r.fail("live schema", fmt.Errorf("connect to the source: %w", err))
		r.skip("source readiness", "cannot connect")
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	where := conn.Config().Host + "/" + conn.Config().Database

	names := make([]string, 0, len(mapping.Tables()))
	for _, t := range mapping.Tables() {
		names = append(names, t.String())
	}
	rels, err := snapshot.Describe(ctx, conn, names)
	if err == nil {
		_, err = config.LoadMappingFile(cfg.Mapping.File, pipeline.SchemaOf(rels...), cfg.Source.Timezone)
	}
	if err != nil {
		r.fail("live schema", err)
	} else {
		r.ok("live schema", fmt.Sprintf("%d table(s) in %s match the mapping", len(rels), where))
	}

	rc := cfg.ReplicationConfig()
	if len(rc.Tables) == 0 {
		rc.Tables = names
	}
	if err := replication.Preflight(ctx, rc); err != nil {
		var nr *replication.NotReadyError
		if errors.As(err, &nr) {
			r.fail("source readiness", errors.New(strings.Join(nr.Problems, "\n")))
		} else {
			r.fail("source readiness", err)
		}
		return
	}
	r.ok("source readiness", fmt.Sprintf("%s can be captured (slot %q, publication %q)", where, rc.Slot, rc.Publication))
}

func describeConfigPath(path string) string {
	if path == "" {
		return "environment only"
	}
	return path
}

// checkReport prints one line per check and remembers the failures.
type checkReport struct {
	w      io.Writer
	failed []string
}

func (r *checkReport) ok(name, detail string) {
	fmt.Fprintf(r.w, "ok    %-22s %s\n", name, detail)
}

func (r *checkReport) skip(name, why string) {
	fmt.Fprintf(r.w, "skip  %-22s %s\n", name, why)
}

func (r *checkReport) fail(name string, err error) {
	r.failed = append(r.failed, name)
	fmt.Fprintf(r.w, "FAIL  %s\n", name)
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(r.w, "      %s\n", strings.TrimLeft(line, " -"))
	}
}

func (r *checkReport) result() error {
	if len(r.failed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", errCheckFailed, strings.Join(r.failed, ", "))
}

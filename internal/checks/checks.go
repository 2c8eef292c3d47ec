// Package checks runs the checks of `cdcflow check` that need no
// configuration package: each takes plain values, prints one line on a
// Report (ok, skip, or FAIL with its problems indented below) and remembers
// its failures. The command loads the configuration and the mapping and
// calls them in order.
package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// ErrFailed is returned (wrapped, naming the checks) by Report.Result when
// at least one check found a problem.
var ErrFailed = errors.New("check failed")

// Report prints one line per check on its writer and remembers the
// failures. Its methods are not safe for concurrent use.
type Report struct {
	w      io.Writer
	failed []string
}

// NewReport returns a Report printing on w.
func NewReport(w io.Writer) *Report { return &Report{w: w} }

// OK prints that check name passed, with detail.
func (r *Report) OK(name, detail string) {
	fmt.Fprintf(r.w, "ok    %-22s %s\n", name, detail)
}

// Skip prints that check name did not run, and why.
func (r *Report) Skip(name, why string) {
	fmt.Fprintf(r.w, "skip  %-22s %s\n", name, why)
}

// Fail prints that check name failed, each line of err indented below it.
func (r *Report) Fail(name string, err error) {
	r.failed = append(r.failed, name)
	fmt.Fprintf(r.w, "FAIL  %s\n", name)
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(r.w, "      %s\n", strings.TrimLeft(line, " -"))
	}
}

// Result returns nil when no check failed, else ErrFailed naming them.
func (r *Report) Result() error {
	if len(r.failed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrFailed, strings.Join(r.failed, ", "))
}

// Rules reports on the CEP rules file, when one is given: rs and err are
// what parsing it gave; the rules are checked against the mapping's event
// types and schemas (cep.Rules.Check: every type a rule matches, every data
// field an expression reads, with file and line), and the derived events'
// schemas in the mapping's schemas directory against what the rules derive
// (cep.Rules.CheckSchemas). It returns the derived event types, for
// checking views over them; nil when there is no rules file or it fails.
func Rules(r *Report, file string, rs *cep.Rules, err error, m *pipeline.Mapping) []pipeline.EventType {
	if file == "" {
		r.Skip("cep rules", "no rules file (--rules)")
		return nil
	}
	if err == nil {
		err = cep.ProblemLines(rs.Check(m))
	}
	if err != nil {
		r.Fail("cep rules", err)
		return nil
	}
	derived, missing, err := rs.CheckSchemas(m)
	if err != nil {
		r.Fail("cep rules", err)
		return nil
	}
	detail := fmt.Sprintf("%s: %d rule(s) match the mapping's events, %d derived type(s)", file, len(rs.Names()), len(derived))
	if len(missing) > 0 {
		detail += fmt.Sprintf("; no schema yet for %s (cdcflow schemas derived writes them)", strings.Join(missing, ", "))
	}
	r.OK("cep rules", detail)
	return derived
}

// Views reports on the view definitions file, when one is given, against
// the mapping: it parses (CEL compiles) and every view follows aggregate
// and event types the mapping produces and reads only data fields their
// schemas declare (redisview.CheckFile).
func Views(r *Report, file string, mapping *pipeline.Mapping) {
	if file == "" {
		// views.enabled without views.file fails the configuration check.
		r.Skip("views", "no views file (views.file, or --views)")
		return
	}
	src, err := os.ReadFile(file)
	if err != nil {
		r.Fail("views", fmt.Errorf("views.file: %w", err))
		return
	}
	defs, err := redisview.CheckFile(file, src, mapping)
	if err != nil {
		r.Fail("views", err)
		return
	}
	r.OK("views", fmt.Sprintf("%s: %d view(s) match the mapping's events", file, len(defs.Names())))
}

// Source is what the source checks need.
type Source struct {
	// DSN is the source's connection string (source.dsn).
	DSN string
	// Tables are the mapping's tables, schema-qualified.
	Tables []string
	// Remap loads the mapping again against the live schema, checking
	// every table and column it uses.
	Remap func(pipeline.Schema) error
	// Replication is the capture configuration whose readiness is
	// checked (replication.Preflight).
	Replication replication.Config
}

// CheckSource reports on the mapping against the live tables ("live
// schema") and on the server's readiness for capture ("source readiness").
func CheckSource(ctx context.Context, r *Report, s Source) {
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		// pgx's connect errors name host and user, never the password.
		r.Fail("live schema", fmt.Errorf("connect to the source: %w", err))
		r.Skip("source readiness", "cannot connect")
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	where := conn.Config().Host + "/" + conn.Config().Database

	rels, err := snapshot.Describe(ctx, conn, s.Tables)
	if err == nil {
		err = s.Remap(pipeline.SchemaOf(rels...))
	}
	if err != nil {
		r.Fail("live schema", err)
	} else {
		r.OK("live schema", fmt.Sprintf("%d table(s) in %s match the mapping", len(rels), where))
	}

	rc := s.Replication
	if len(rc.Tables) == 0 {
		rc.Tables = s.Tables
	}
	if err := replication.Preflight(ctx, rc); err != nil {
		var nr *replication.NotReadyError
		if errors.As(err, &nr) {
			r.Fail("source readiness", errors.New(strings.Join(nr.Problems, "\n")))
		} else {
			r.Fail("source readiness", err)
		}
		return
	}
	r.OK("source readiness", fmt.Sprintf("%s can be captured (slot %q, publication %q)", where, rc.Slot, rc.Publication))
}

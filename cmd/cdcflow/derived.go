package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/pipeline"
)

// parseRulesFile reads and compiles the CEP rules file, its problems one
// per line as file:line: rule "name": problem.
func parseRulesFile(file string) (*cep.Rules, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cep rules: %w", err)
	}
	rs, err := cep.ParseRules(file, src)
	if err != nil {
		return nil, ruleProblems(err)
	}
	return rs, nil
}

// ruleProblems writes cep.RuleErrors one per line (each names its file and
// line, so that editors can jump to them); other errors as they are.
func ruleProblems(err error) error {
	var errs cep.RuleErrors
	if !errors.As(err, &errs) {
		return err
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		lines = append(lines, e.Error())
	}
	return errors.New(strings.Join(lines, "\n"))
}

// derivedCatalog returns the catalogue entries of the events the rules
// derive, each on topic, or when topic is "" on the mapping's topic prefix
// + "cep", the default topic of cdcflow cep.
func derivedCatalog(rs *cep.Rules, m *pipeline.Mapping, topic string) ([]pipeline.CatalogEvent, error) {
	ds, err := rs.DerivedSchemas(m)
	if err != nil {
		return nil, err
	}
	out := make([]pipeline.CatalogEvent, 0, len(ds))
	for _, d := range ds {
		t := topic
		if t == "" {
			t = m.Topic("cep")
		}
		out = append(out, pipeline.CatalogEvent{Type: d.Type, Version: d.Version, AggregateType: d.AggregateType, Topic: t,
			Summary: fmt.Sprintf("Derived by CEP rule %s of %s.", d.Rule, rs.File()), Schema: d.JSON})
	}
	return out, nil
}

// checkRules checks the CEP rules file, when one is given, against the
// mapping's event types and schemas (cep.Rules.Check: every type a rule
// matches, every data field an expression reads, with file and line), and
// the derived events' schemas in the mapping's schemas directory against
// what the rules derive. It returns the derived event types, for checking
// views over them; nil when there is no rules file or it fails.
func checkRules(r *checkReport, file string, m *pipeline.Mapping) []pipeline.EventType {
	if file == "" {
		r.skip("cep rules", "no rules file (--rules)")
		return nil
	}
	rs, err := parseRulesFile(file)
	if err == nil {
		err = ruleProblems(rs.Check(m))
	}
	if err != nil {
		r.fail("cep rules", err)
		return nil
	}
	ds, err := rs.DerivedSchemas(m)
	if err != nil {
		r.fail("cep rules", err)
		return nil
	}
	have := map[string][]byte{}
	for _, f := range m.SchemaFiles() {
		have[fmt.Sprintf("%s v%d", f.Type, f.Version)] = f.Content
	}
	var differ, missing []string
	derived := make([]pipeline.EventType, 0, len(ds))
	for _, d := range ds {
		derived = append(derived, pipeline.EventType{Type: d.Type, AggregateType: d.AggregateType, Version: d.Version})
		got, ok := have[fmt.Sprintf("%s v%d", d.Type, d.Version)]
		switch {
		case !ok:
			missing = append(missing, d.File)
		case !bytes.Equal(got, d.JSON):
			differ = append(differ, fmt.Sprintf("%s: schema %s differs from what rule %q derives: a released version never changes: give the emit a new version (cdcflow schemas derived shows it)", file, d.File, d.Rule))
		}
	}
	if len(differ) > 0 {
		r.fail("cep rules", errors.New(strings.Join(differ, "\n")))
		return nil
	}
	detail := fmt.Sprintf("%s: %d rule(s) match the mapping's events, %d derived type(s)", file, len(rs.Names()), len(ds))
	if len(missing) > 0 {
		detail += fmt.Sprintf("; no schema yet for %s (cdcflow schemas derived writes them)", strings.Join(missing, ", "))
	}
	r.ok("cep rules", detail)
	return derived
}

package main

import (
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
		return nil, cep.ProblemLines(err)
	}
	return rs, nil
}

// checkRules checks the CEP rules file, when one is given, against the
// mapping's event types and schemas (cep.Rules.Check: every type a rule
// matches, every data field an expression reads, with file and line), and
// the derived events' schemas in the mapping's schemas directory against
// what the rules derive (cep.Rules.CheckSchemas). It returns the derived event types, for checking
// views over them; nil when there is no rules file or it fails.
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

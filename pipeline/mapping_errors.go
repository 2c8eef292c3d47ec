package pipeline

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/cdcflow/cdcflow/capture"
)

// MappingError is one thing wrong with a mapping file: where it is and what.
type MappingError struct {
	File string // the mapping file's name as given to Load
	Line int    // 1-based line in File; 0 when the problem has no single place
	Rule string // the rule, e.g. "public.orders/OrderPromised"; empty for file-level problems
	Msg  string // what is wrong, in lower case
}

// Error formats the problem as "file:line: rule rule: msg".
func (e *MappingError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %s: ", e.Rule)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// MappingErrors is every problem found in a mapping file, in file order. Load
// checks the whole file and returns all of them at once.
type MappingErrors []*MappingError

// Error lists the problems one per line.
func (es MappingErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the problems, so errors.As finds a *MappingError.
func (es MappingErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// RuleBrokenError says that a table's shape, as a Relation message announced it
// (an ALTER TABLE), no longer fits a rule: a column the rule uses was dropped or
// changed type, or the table's REPLICA IDENTITY is no longer FULL while the rule
// reads the column's old value (OldRowMissing). The Mapper returns it from
// Change, which stops the pipeline, rather than dead-lettering every later
// change of the table.
//
// A Relation message describes the table as it was when the change was
// written, not as it is now: a change written while the identity was not FULL
// comes without its old row for good, and breaks the rule again on every
// restart even after the identity is FULL again.
type RuleBrokenError struct {
	Table  string // the table, e.g. public.orders
	Rule   string // the first broken rule
	Column string // the column it uses
	Reason string // "was dropped", "changed type from int4 to text", ...
	// OldRowMissing says the rule reads the old value of Column, which the
	// table's replica identity (Identity, not FULL) leaves out of its updates
	// and deletes.
	OldRowMissing bool
	// Identity is the table's REPLICA IDENTITY when the change was written;
	// set with OldRowMissing.
	Identity capture.ReplicaIdentity
}

// Error names table, rule and column, and for OldRowMissing the identity the
// table had when the change was written.
func (e *RuleBrokenError) Error() string {
	if e.OldRowMissing {
		return fmt.Sprintf("table %s lost REPLICA IDENTITY FULL (it was %s when the change was written): rule %s uses the old value of %q, "+
			"so PostgreSQL wrote the table's updates and deletes to the WAL without the old row the rule needs",
			e.Table, identityName(e.Identity), e.Rule, e.Column)
	}
	return fmt.Sprintf("table %s changed: rule %s uses column %q, which %s", e.Table, e.Rule, e.Column, e.Reason)
}

// identityName is the REPLICA IDENTITY clause that sets id.
func identityName(id capture.ReplicaIdentity) string {
	switch id {
	case capture.IdentityDefault:
		return "DEFAULT"
	case capture.IdentityNothing:
		return "NOTHING"
	case capture.IdentityIndex:
		return "USING INDEX"
	case capture.IdentityFull:
		return "FULL"
	}
	return fmt.Sprintf("unknown (%q)", byte(id))
}

// problems collects MappingErrors while a file is loaded.
type problems struct {
	file string
	list MappingErrors
}

func (p *problems) add(line int, rule, format string, args ...any) {
	p.list = append(p.list, &MappingError{File: p.file, Line: line, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b *MappingError) int { return cmp.Compare(a.Line, b.Line) })
	return p.list
}

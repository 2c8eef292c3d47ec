package cep

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
	"github.com/cdcflow/cdcflow/pipeline"
)

// Check validates the rules against the events of the mapping m, which
// ParseRules cannot see. Every event type a rule matches must be one the
// mapping produces, or one an earlier rule of the file derives (rules see
// the derived events of the rules above them). Every field of data an
// expression reads (data.total, matched.start.data.order_id,
// has(data.x)) must be declared by the current schema of the event types
// it is read from: at least one of the step's types for a condition, every
// type the rule listens to for key (it is evaluated on all of them). A
// field below an object the schema leaves open, or of a type without a
// schema, cannot be judged and is accepted; a derived type's fields are
// those of its emit data.
//
// It returns nil or RuleErrors in line order, each naming the file, line,
// rule and key, with the nearest known names. It does no I/O.
func (rs *Rules) Check(m *pipeline.Mapping) error {
	c := &checker{rs: rs, shapes: map[string]typed{}}
	for _, et := range m.EventTypes() {
		s, ok := m.DataShape(et.Type)
		if !ok {
			s = nil
		}
		c.shapes[et.Type] = typed{name: fmt.Sprintf("%s v%d", et.Type, et.Version), shape: s}
		c.known = append(c.known, et.Type)
	}
	g := newSchemaGen(m)
	for _, r := range rs.rules {
		c.rule(r)
		for _, spec := range []*emitSpec{r.emit, r.resolve} {
			if spec == nil {
				continue
			}
			// A derived type's fields are those of its emit data, of the
			// types DerivedSchemas infers for them.
			shape := &pipeline.Shape{}
			if ds, err := g.schema(rs.file, r, spec); err == nil {
				shape = shapeOfDerived(ds.JSON)
				if _, mapped := g.docs[spec.typ]; !mapped {
					g.docs[spec.typ] = ds.JSON
				}
			}
			c.shapes[spec.typ] = typed{name: fmt.Sprintf("%s v%d (rule %s)", spec.typ, spec.version, r.name), shape: shape}
			c.known = append(c.known, spec.typ)
		}
	}
	if len(c.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(c.errs, func(a, b *RuleError) int { return a.Line - b.Line })
	return c.errs
}

type typed struct {
	name  string
	shape *pipeline.Shape // nil: no schema, nothing to judge
}

type checker struct {
	rs     *Rules
	shapes map[string]typed // the mapping's types and those derived so far
	known  []string
	errs   RuleErrors
}

func (c *checker) add(line int, rule, format string, args ...any) {
	c.errs = append(c.errs, &RuleError{File: c.rs.file, Line: line, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) rule(r *rule) {
	byName := map[string][]string{}
	var all []string
	for _, s := range r.steps {
		types := slices.Sorted(maps.Keys(s.types))
		for _, t := range types {
			if _, ok := c.shapes[t]; !ok {
				c.add(s.line, r.name, "%s: event type %q: neither the mapping nor an earlier rule produces it%s",
					s.name, t, strictyaml.DidYouMean(t, c.known))
			}
		}
		byName[s.name] = types
		all = append(all, types...)
		if s.when != nil {
			c.paths(r, s.when, s.when.dataPaths, types, false)
		}
	}
	if r.kind == KindCount || r.kind == KindSum {
		byName["first"], byName["last"] = byName["on"], byName["on"]
	}
	if r.key != nil {
		c.paths(r, r.key, r.key.dataPaths, all, true)
		c.keyType(r, all)
	}
	if r.value != nil {
		c.paths(r, r.value, r.value.dataPaths, all, true)
	}
	progs := []*program{}
	for _, s := range r.steps {
		progs = append(progs, s.when)
	}
	for _, spec := range []*emitSpec{r.emit, r.resolve} {
		if spec != nil {
			for _, f := range spec.fields {
				progs = append(progs, f.expr)
			}
		}
	}
	for _, p := range progs {
		if p == nil {
			continue
		}
		for _, mp := range p.matchedPaths {
			if len(mp) > 2 && mp[1] == "data" {
				c.paths(r, p, [][]string{mp[2:]}, byName[mp[0]], false)
			}
		}
	}
}

// keyType checks a key that reads a data field as it is (key: data.x)
// against the field's type in the schemas of types: a key is a string or an
// integer, so a field that is neither (an object, an array, a decimal
// number, a bool) would make every event's key an evaluation error.
func (c *checker) keyType(r *rule, types []string) {
	path := selectPath(r.key.ast)
	if len(path) < 2 || path[0] != "data" {
		return
	}
	for _, t := range types {
		ts, ok := c.shapes[t]
		if !ok || ts.shape == nil {
			continue
		}
		cur := ts.shape
		for _, f := range path[1:] {
			if cur = cur.Fields[f]; cur == nil {
				break // reported by paths, or an open object
			}
		}
		if cur == nil || cur.Types == nil {
			continue
		}
		if !slices.Contains(cur.Types, "string") && !slices.Contains(cur.Types, "integer") {
			c.add(r.keyLine, r.name, "key: %s is %s in %s: want a string or an integer", strings.Join(path, "."),
				strings.Join(cur.Types, " or "), ts.name)
		}
	}
}

// paths checks data paths read by p against the shapes of types: the path
// must exist in at least one of them (every one when all is set).
func (c *checker) paths(r *rule, p *program, paths [][]string, types []string, all bool) {
	seen := map[string]bool{}
	for _, path := range paths {
		k := strings.Join(path, "\x00")
		if seen[k] {
			continue
		}
		seen[k] = true
		var msgs []string
		found := false
		for _, t := range types {
			ts, ok := c.shapes[t]
			if !ok {
				continue // reported as an unknown type
			}
			msg := findPath(path, ts)
			if msg == "" {
				found = true
				continue
			}
			msgs = append(msgs, msg)
		}
		if len(msgs) > 0 && (all || !found) {
			c.add(p.line, r.name, "%s: %s", p.what, strings.Join(msgs, "; "))
		}
	}
}

// findPath returns "" when the data field path may exist in ts, and
// otherwise what is missing, with the nearest declared names.
func findPath(path []string, ts typed) string {
	cur := ts.shape
	if cur == nil {
		return ""
	}
	for i, f := range path {
		if cur.Fields == nil {
			if cur.Allows("object") {
				return "" // open object: any field may be there
			}
			return fmt.Sprintf("data.%s is not an object in %s: it has no field %q", strings.Join(path[:i], "."), ts.name, f)
		}
		next, ok := cur.Fields[f]
		if !ok {
			return fmt.Sprintf("data.%s: no such field in %s%s", strings.Join(path[:i+1], "."), ts.name,
				strictyaml.DidYouMean(f, slices.Sorted(maps.Keys(cur.Fields))))
		}
		cur = next
	}
	return ""
}

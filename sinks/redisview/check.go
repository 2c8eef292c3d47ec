package redisview

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
	"github.com/cdcflow/cdcflow/pipeline"
)

// Check validates the definitions against the events of the mapping m, which
// ParseDefinitions cannot see. Every aggregate type an entity or history view
// follows, and every event type a view names (on, delete_on, types), must be
// one the mapping produces, for the view's aggregate. Every field of data an
// entity rule's expressions read (data.total, data.customer.name,
// data["total"], has(data.total)) must be declared by the current schema of
// at least one of the rule's event types (at least one, so that
// has(data.x) ? data.x : … over several types passes), at every level of
// nesting the schema describes, and must not reach into a value the schema
// types as a scalar or an array. A field below an object whose fields the
// schema leaves open (no properties, additionalProperties, combined
// schemas), or read by a rule with an event type that has no schema, cannot
// be judged and is accepted. Every field of state an expression reads by name
// (state.status, has(state.status)) must be one a rule of the entity view
// sets, since an entity's state holds nothing else.
//
// It returns nil, or DefinitionErrors in line order, each naming the line,
// the view and the key, and for an unknown name the nearest known ones
// (strictyaml.Suggest). It does no I/O.
func (d *Definitions) Check(m *pipeline.Mapping) error {
	c := &checker{m: m, aggs: m.AggregateTypes(), byType: map[string]pipeline.EventType{}}
	for _, et := range m.EventTypes() {
		c.byType[et.Type] = et
		c.typeNames = append(c.typeNames, et.Type)
	}
	for _, v := range d.views {
		c.view(v)
	}
	if len(c.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(c.errs, func(a, b *DefinitionError) int { return a.Line - b.Line })
	return c.errs
}

// checker holds what Check knows of the mapping and the problems found.
type checker struct {
	m         *pipeline.Mapping
	aggs      []string
	byType    map[string]pipeline.EventType
	typeNames []string // in the mapping's order
	errs      DefinitionErrors
}

func (c *checker) add(line int, view, format string, args ...any) {
	c.errs = append(c.errs, &DefinitionError{Line: line, View: view, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) view(v *view) {
	if v.kind == KindIndex || v.kind == KindAggregate {
		// They follow their entity view's aggregate, which is checked
		// there; what they read is that view's state.
		if v.entity != nil {
			progs := []*program{v.when, v.score, v.key, v.group}
			for _, s := range v.sums {
				progs = append(progs, s.expr)
			}
			for _, gp := range v.parts {
				progs = append(progs, gp.expr)
			}
			c.stateFields(v, v.entity, progs)
		}
		return
	}
	if !slices.Contains(c.aggs, v.aggregate) {
		c.add(v.aggregateLine, v.name, "aggregate %q: the mapping %s produces no such aggregate type%s",
			v.aggregate, c.m.File(), strictyaml.DidYouMean(v.aggregate, c.aggs))
		return // every event type would be reported again
	}
	switch v.kind {
	case KindEntity:
		// Rules listing several types share one *entityRule: check each once.
		byRule := map[*entityRule][]string{}
		for typ, r := range v.rules {
			byRule[r] = append(byRule[r], typ)
		}
		rules := slices.SortedFunc(maps.Keys(byRule), func(a, b *entityRule) int { return a.line - b.line })
		for _, r := range rules {
			typs := byRule[r]
			slices.Sort(typs)
			c.rule(v, r, typs)
		}
		for _, typ := range slices.Sorted(maps.Keys(v.deletes)) {
			c.eventType(v, v.deletesLine, "delete_on", typ)
		}
	case KindHistory:
		for _, typ := range slices.Sorted(maps.Keys(v.types)) {
			c.eventType(v, v.typesLine, "types", typ)
		}
	}
}

// eventType reports typ, named under key on line of view v, when the mapping
// does not produce it for v's aggregate. ok is whether it does.
func (c *checker) eventType(v *view, line int, key, typ string) (ok bool) {
	et, known := c.byType[typ]
	switch {
	case !known:
		c.add(line, v.name, "%s: event type %q: the mapping %s produces no such event type%s",
			key, typ, c.m.File(), strictyaml.DidYouMean(typ, c.typeNames))
	case et.AggregateType != v.aggregate:
		c.add(line, v.name, "%s: event type %q belongs to aggregate %q, not %q: the view never sees it",
			key, typ, et.AggregateType, v.aggregate)
	default:
		return true
	}
	return false
}

// rule checks one entity rule: its event types, then the data fields its
// expressions read against their schemas.
func (c *checker) rule(v *view, r *entityRule, typs []string) {
	var shapes []typedShape
	judged := true
	for _, typ := range typs {
		if !c.eventType(v, r.line, "on", typ) {
			continue
		}
		s, ok := c.m.DataShape(typ)
		if !ok {
			judged = false // no schema: any field may be there
			continue
		}
		shapes = append(shapes, typedShape{typ: typ, version: c.byType[typ].Version, shape: s})
	}
	for _, f := range r.fields {
		c.stateFields(v, v, []*program{f.expr})
	}
	if !judged || len(shapes) == 0 {
		return
	}
	for _, f := range r.fields {
		seen := map[string]bool{}
		for _, path := range f.expr.dataPaths {
			key := strings.Join(path, "\x00")
			if seen[key] {
				continue
			}
			seen[key] = true
			if msg := checkPath(path, shapes); msg != "" {
				c.add(f.expr.line, v.name, "%s: %s", f.expr.what, msg)
			}
		}
	}
}

// stateFields reports the fields of state that the programs of view v read
// by name (state.x, state["x"], has(state.x)) and that no rule of the entity
// view e sets: state holds only the fields e's rules set.
func (c *checker) stateFields(v, e *view, progs []*program) {
	var set []string
	for _, r := range e.rules {
		for _, f := range r.fields {
			if !slices.Contains(set, f.name) {
				set = append(set, f.name)
			}
		}
	}
	slices.Sort(set)
	for _, p := range progs {
		if p == nil {
			continue
		}
		for _, f := range p.refs.fields {
			if slices.Contains(set, f) {
				continue
			}
			whose := fmt.Sprintf("entity view %q", e.name)
			if e == v {
				whose = "this view"
			}
			c.add(p.line, v.name, "%s: state.%s: no rule of %s sets it%s",
				p.what, f, whose, strictyaml.DidYouMean(f, set))
		}
	}
}

// typedShape is the data shape of one event type's current version.
type typedShape struct {
	typ     string
	version int
	shape   *pipeline.Shape
}

// checkPath returns "" when the data field path may exist in at least one of
// shapes, and otherwise what is wrong in each: the first missing field, with
// the nearest names the schemas declare at that level, or the value that is
// not an object.
func checkPath(path []string, shapes []typedShape) string {
	type problem struct {
		where []string // "OrderRequested v1"
		known []string // field names at the missing level
		name  string   // the missing field, "" for a value that is not an object
	}
	var order []string
	byText := map[string]*problem{}
	note := func(text, name string, ts typedShape, known map[string]*pipeline.Shape) {
		p, ok := byText[text]
		if !ok {
			p = &problem{name: name}
			byText[text] = p
			order = append(order, text)
		}
		p.where = append(p.where, fmt.Sprintf("%s v%d", ts.typ, ts.version))
		for k := range known {
			if !slices.Contains(p.known, k) {
				p.known = append(p.known, k)
			}
		}
	}
	for _, ts := range shapes {
		cur := ts.shape
		for i, f := range path {
			if cur.Fields == nil {
				if cur.Allows("object") {
					return "" // an open object: any field may be there
				}
				note(fmt.Sprintf("%s is %s: it has no field %q", dataName(path[:i]), article(cur.Types), f), "", ts, nil)
				break
			}
			next, ok := cur.Fields[f]
			if !ok {
				note(dataName(path[:i+1])+": no such field", f, ts, cur.Fields)
				break
			}
			if i == len(path)-1 {
				return ""
			}
			cur = next
		}
	}
	msgs := make([]string, 0, len(order))
	for _, text := range order {
		p := byText[text]
		msg := text + " in " + strings.Join(p.where, ", ")
		if p.name != "" {
			slices.Sort(p.known)
			msg += strictyaml.DidYouMean(p.name, p.known)
		}
		msgs = append(msgs, msg)
	}
	return strings.Join(msgs, "; ")
}

// dataName writes a data field path as an expression reads it.
func dataName(path []string) string {
	return strings.Join(append([]string{"data"}, path...), ".")
}

// article names JSON types for a message: "a string", "an array or null".
func article(typs []string) string {
	s := strings.Join(typs, " or ")
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// identPaths returns the field paths the checked expression a reads of the
// variable name: data.a.b and data["a"].b give [a b]. A use of the variable
// other than by constant field names (size(data), data[x]) stops the path
// where the names end; the bare variable gives no path.
func identPaths(a *cel.Ast, name string) [][]string {
	var out [][]string
	root := ast.NavigateAST(a.NativeRep())
	for _, id := range ast.MatchDescendants(root, func(e ast.NavigableExpr) bool {
		return e.Kind() == ast.IdentKind && e.AsIdent() == name
	}) {
		var path []string
		cur := id
		for {
			parent, ok := cur.Parent()
			if !ok {
				break
			}
			if parent.Kind() == ast.SelectKind && parent.AsSelect().Operand().ID() == cur.ID() {
				path = append(path, parent.AsSelect().FieldName())
				if parent.AsSelect().IsTestOnly() {
					break // has(): a test of the last field, no deeper read
				}
				cur = parent
				continue
			}
			if parent.Kind() == ast.CallKind && parent.AsCall().FunctionName() == operators.Index {
				args := parent.AsCall().Args()
				if len(args) == 2 && args[0].ID() == cur.ID() && args[1].Kind() == ast.LiteralKind {
					if lit, isStr := args[1].AsLiteral().(types.String); isStr {
						path = append(path, string(lit))
						cur = parent
						continue
					}
				}
			}
			break
		}
		if len(path) > 0 {
			out = append(out, path)
		}
	}
	return out
}

package redisview

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
)

// Kind says what a view keeps.
type Kind string

// The view kinds.
const (
	// KindEntity folds an aggregate's events into a hash of its current state.
	KindEntity Kind = "entity"
	// KindIndex keeps the aggregates whose entity state satisfies a predicate in
	// a sorted set, scored by an expression over that state.
	KindIndex Kind = "index"
	// KindAggregate keeps group-by counts and exact sums over entity states.
	KindAggregate Kind = "aggregate"
	// KindHistory keeps an aggregate's events as a list.
	KindHistory Kind = "history"
)

// Definitions is a compiled view file: every CEL expression is compiled once,
// here, and the result is immutable and safe for concurrent use.
type Definitions struct {
	// Location is the time zone in which aggregate views group by day.
	Location *time.Location
	views    []*view
	byName   map[string]*view
}

// DefinitionError is one problem of a view file, with the line it is on.
type DefinitionError struct {
	Line int    // 1-based line in the view file; 0 when unknown
	View string // the view's name, "" for file-level problems
	Msg  string
}

// Error implements error.
func (e *DefinitionError) Error() string {
	var parts []string
	if e.Line > 0 {
		parts = append(parts, fmt.Sprintf("line %d", e.Line))
	}
	if e.View != "" {
		parts = append(parts, fmt.Sprintf("view %q", e.View))
	}
	return strings.Join(append(parts, e.Msg), ": ")
}

// DefinitionErrors is every problem found in a view file, in line order.
type DefinitionErrors []*DefinitionError

// Error implements error, one problem per line.
func (es DefinitionErrors) Error() string {
	var b strings.Builder
	b.WriteString("view definitions:")
	for _, e := range es {
		b.WriteString("\n  " + e.Error())
	}
	return b.String()
}

// view is one compiled view.
type view struct {
	name      string
	kind      Kind
	line      int
	aggregate string // aggregate type the view follows

	// entity
	rules   map[string]*entityRule // by event type
	deletes map[string]bool        // event types that delete the entity

	// index and aggregate
	entity *view       // the entity view whose state they derive from
	when   *program    // nil: every existing entity
	score  *program    // index
	key    *program    // index: optional partitioning key (one set per value)
	group  *program    // aggregate: a plain group (nil for a composite one)
	byDay  bool        // aggregate: the plain group's value is a time, grouped by local date
	parts  []groupPart // aggregate: a composite group's parts, in key order
	sums   []*sumRule
	refs   stateRefs // the entity fields when, score, key, group and sums read

	// history
	types map[string]bool // nil: every event type
	max   int             // 0: unbounded

	// Lines of the keys that name event types, for Check.
	aggregateLine, deletesLine, typesLine int
}

type entityRule struct {
	line   int
	fields []fieldRule
	// usesData and usesEvent: some field reads data, event; eventRefs: what
	// the fields read of event.
	usesData, usesEvent bool
	eventRefs           stateRefs
}

type fieldRule struct {
	name string
	expr *program
}

// groupPart is one part of a composite group key.
type groupPart struct {
	name string
	day  bool // the part is a time, grouped by local date
	expr *program
}

type sumRule struct {
	name  string
	scale int
	expr  *program
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ParseDefinitions decodes and compiles a view file (YAML). Decoding is strict:
// an unknown key, a missing required key, a wrong kind of value, an unknown
// view kind or entity, a CEL expression that does not compile or a duplicate
// view name is an error naming the view and the line. It returns
// DefinitionErrors when the file has problems.
//
// The file:
//
//	version: 1
//	timezone: Europe/Berlin        # for aggregate views grouped by day (default UTC)
//	views:
//	  - name: order                # entity view
//	    kind: entity
//	    aggregate: order
//	    on:
//	      - type: OrderRequested   # or a list: [OrderPromised, OrderDeclined]
//	        set: {status: '"requested"', total: data.total}
//	    delete_on: [OrderDeleted]
//	  - name: pending
//	    kind: index
//	    entity: order
//	    when: state.status == "requested"
//	    score: timestamp(state.ordered_at)
//	    key: state.customer_id     # optional: one sorted set per value
//	  - name: per_status
//	    kind: aggregate
//	    entity: order
//	    group: state.status
//	    day: false                 # true: group is a time, grouped by local date
//	    sums: [{name: total, expr: 'decimal(state.total)', scale: 2}]
//	  - name: revenue_per_day_currency
//	    kind: aggregate
//	    entity: order
//	    group:                     # a composite group: a list of named parts
//	      - {name: day, expr: state.ordered_at, day: true}
//	      - {name: currency, expr: state.currency}
//	    sums: [{name: total, expr: 'decimal(state.total)', scale: 2}]
//	  - name: history
//	    kind: history
//	    aggregate: order
//	    types: [OrderRequested]    # optional filter
//	    max: 1000                  # optional: keep the last max events
func ParseDefinitions(src []byte) (*Definitions, error) {
	root, err := strictyaml.Parse(src)
	p := &parser{}
	var extra *strictyaml.ExtraDocumentError
	switch {
	case errors.Is(err, strictyaml.ErrEmpty), errors.As(err, &extra):
		p.add(1, "", "want one YAML document")
	case err != nil:
		return nil, fmt.Errorf("view definitions: %w", err)
	}
	var defs *Definitions
	if root != nil {
		defs = p.file(root)
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *DefinitionError) int { return a.Line - b.Line })
		return nil, p.errs
	}
	for _, v := range defs.views {
		v.refs = v.stateRefs()
	}
	return defs, nil
}

// parser compiles a view file; the walking itself (known keys, duplicates,
// aliases, merges) is strictyaml's.
type parser struct {
	errs DefinitionErrors
	env  *celEnvs
	w    strictyaml.Walker
}

func (p *parser) add(line int, view, format string, args ...any) {
	p.errs = append(p.errs, &DefinitionError{Line: line, View: view, Msg: fmt.Sprintf(format, args...)})
}

// drain moves the walker's problems into the parser's, naming view.
func (p *parser) drain(view string) {
	for _, pr := range p.w.Problems {
		p.add(pr.Line, view, "%s", pr.Text())
	}
	p.w.Problems = nil
}

// fields walks the mapping n at path, calling the handler of each key;
// unknown keys, duplicates and missing required keys are problems.
func (p *parser) fields(n *yaml.Node, path string, h map[string]func(n *yaml.Node, path string), required ...string) {
	known := slices.Sorted(maps.Keys(h))
	p.w.Mapping(n, path, known, func(name, path string, v *yaml.Node) { h[name](v, path) }, required...)
}

func (p *parser) str(n *yaml.Node, path string) (string, int) {
	s, ok := p.w.Scalar(n, path, false)
	if !ok {
		return "", n.Line
	}
	return s.Value, s.Line
}

// strs accepts a string or a list of strings.
func (p *parser) strs(n *yaml.Node, path string) []string {
	var out []string
	p.w.Node(n, path, func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			s, _ := p.str(n, path)
			out = []string{s}
			return
		}
		p.w.List(n, path, func(_ int, path string, e *yaml.Node) {
			s, _ := p.str(e, path)
			out = append(out, s)
		})
	})
	return out
}

func (p *parser) file(root *yaml.Node) *Definitions {
	d := &Definitions{Location: time.UTC, byName: map[string]*view{}}
	type item struct {
		n    *yaml.Node
		path string
	}
	var viewNodes []item
	p.fields(root, "", map[string]func(*yaml.Node, string){
		"version": func(n *yaml.Node, path string) {
			if v, ok := p.w.Int(n, path); ok && v != 1 {
				p.add(n.Line, "", "version %d: want 1", v)
			}
		},
		"timezone": func(n *yaml.Node, path string) {
			s, line := p.str(n, path)
			loc, err := time.LoadLocation(s)
			if err != nil {
				p.add(line, "", "timezone %q: %v", s, err)
				return
			}
			d.Location = loc
		},
		"views": func(n *yaml.Node, path string) {
			p.w.List(n, path, func(_ int, path string, n *yaml.Node) { viewNodes = append(viewNodes, item{n, path}) })
		},
	}, "version", "views")
	p.drain("")
	env, err := newCELEnvs(d.Location)
	if err != nil {
		p.add(0, "", "create CEL environment: %v", err)
		return nil
	}
	p.env = env
	// Entities first, so that index and aggregate views may name any of them.
	var later []func()
	for _, it := range viewNodes {
		if v, done := p.view(it.n, it.path, d); v != nil {
			if done != nil {
				later = append(later, done)
			}
		}
	}
	for _, f := range later {
		f()
	}
	if len(d.views) == 0 && len(p.errs) == 0 {
		p.add(root.Line, "", "views: want at least one view")
	}
	return d
}

// view decodes one view; done, when not nil, resolves references to other
// views once all are known.
func (p *parser) view(n *yaml.Node, path string, d *Definitions) (*view, func()) {
	p.w.Node(n, path, func(m *yaml.Node) { n = m }) // an alias stands for its view
	name := ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				name = n.Content[i+1].Value
			}
		}
	}
	defer p.drain(name)
	v := &view{name: name, line: n.Line}
	var entityName string
	var entityLine int
	var onNodes, whenN, scoreN, keyN, groupN, dayN *yaml.Node
	var onPath, sumsPath, groupPath string
	var sumsN *yaml.Node
	var deletes, types []string
	p.fields(n, path, map[string]func(*yaml.Node, string){
		"name": func(n *yaml.Node, path string) {
			s, line := p.str(n, path)
			if !nameRE.MatchString(s) {
				p.add(line, name, "name %q: want lower-case letters, digits and _", s)
			}
		},
		"kind": func(n *yaml.Node, path string) {
			s, line := p.str(n, path)
			switch Kind(s) {
			case KindEntity, KindIndex, KindAggregate, KindHistory:
				v.kind = Kind(s)
			default:
				p.add(line, name, "kind %q: want entity, index, aggregate or history", s)
			}
		},
		"aggregate": func(n *yaml.Node, path string) { v.aggregate, v.aggregateLine = p.str(n, path) },
		"entity":    func(n *yaml.Node, path string) { entityName, entityLine = p.str(n, path) },
		"on":        func(n *yaml.Node, path string) { onNodes, onPath = n, path },
		"delete_on": func(n *yaml.Node, path string) { deletes, v.deletesLine = p.strs(n, path), n.Line },
		"when":      func(n *yaml.Node, _ string) { whenN = n },
		"score":     func(n *yaml.Node, _ string) { scoreN = n },
		"key":       func(n *yaml.Node, _ string) { keyN = n },
		"group":     func(n *yaml.Node, path string) { groupN, groupPath = n, path },
		"day":       func(n *yaml.Node, path string) { v.byDay, _ = p.w.Bool(n, path); dayN = n },
		"sums":      func(n *yaml.Node, path string) { sumsN, sumsPath = n, path },
		"types":     func(n *yaml.Node, path string) { types, v.typesLine = p.strs(n, path), n.Line },
		"max": func(n *yaml.Node, path string) {
			if v.max, _ = p.w.Int(n, path); v.max < 0 {
				p.add(n.Line, name, "max %d: want 0 (unbounded) or more", v.max)
			}
		},
	}, "name", "kind")
	if n.Kind != yaml.MappingNode || v.kind == "" || !nameRE.MatchString(name) {
		return nil, nil
	}
	if reserved[name] {
		p.add(n.Line, name, "name %q is reserved for cdcflow's own keys", name)
		return nil, nil
	}
	if _, dup := d.byName[name]; dup {
		p.add(n.Line, name, "duplicate view name")
		return nil, nil
	}
	// Keys that belong to other kinds are mistakes worth naming.
	allowed := map[Kind][]string{
		KindEntity:    {"aggregate", "on", "delete_on"},
		KindIndex:     {"entity", "when", "score", "key"},
		KindAggregate: {"entity", "when", "group", "day", "sums"},
		KindHistory:   {"aggregate", "types", "max"},
	}[v.kind]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if k != "name" && k != "kind" && !slices.Contains(allowed, k) {
			p.add(n.Content[i].Line, name, "key %q does not apply to a %s view (it takes %s)", k, v.kind, strings.Join(allowed, ", "))
		}
	}
	d.views = append(d.views, v)
	d.byName[name] = v
	switch v.kind {
	case KindEntity:
		if v.aggregate == "" {
			p.add(n.Line, name, "missing key %q", "aggregate")
		}
		if onNodes == nil {
			p.add(n.Line, name, "missing key %q", "on")
		} else {
			p.entityRules(v, onNodes, onPath)
		}
		v.deletes = map[string]bool{}
		for _, t := range deletes {
			v.deletes[t] = true
		}
	case KindHistory:
		if v.aggregate == "" {
			p.add(n.Line, name, "missing key %q", "aggregate")
		}
		if types != nil {
			v.types = map[string]bool{}
			for _, t := range types {
				v.types[t] = true
			}
		}
	case KindIndex, KindAggregate:
		if entityName == "" {
			p.add(n.Line, name, "missing key %q", "entity")
		}
		if whenN != nil {
			v.when = p.expr(whenN, name, "when", exprBool)
		}
		if v.kind == KindIndex {
			if scoreN == nil {
				p.add(n.Line, name, "missing key %q", "score")
			} else {
				v.score = p.expr(scoreN, name, "score", exprScore)
			}
			if keyN != nil {
				v.key = p.expr(keyN, name, "key", exprString)
			}
		} else {
			p.group(v, groupN, groupPath, dayN, n.Line)
			if sumsN != nil {
				p.sums(v, sumsN, sumsPath)
			}
		}
		return v, func() {
			e, ok := d.byName[entityName]
			switch {
			case entityName == "":
			case !ok:
				p.add(entityLine, name, "entity %q: no such view", entityName)
			case e.kind != KindEntity:
				p.add(entityLine, name, "entity %q: is a %s view, not an entity view", entityName, e.kind)
			default:
				v.entity = e
				v.aggregate = e.aggregate
			}
		}
	}
	return v, nil
}

func (p *parser) entityRules(v *view, n *yaml.Node, path string) {
	v.rules = map[string]*entityRule{}
	p.w.List(n, path, func(_ int, path string, rn *yaml.Node) {
		var typs []string
		r := &entityRule{line: rn.Line}
		p.fields(rn, path, map[string]func(*yaml.Node, string){
			"type": func(n *yaml.Node, path string) { typs = p.strs(n, path) },
			"set": func(n *yaml.Node, path string) {
				p.w.Entries(n, path, func(field, _ string, k, e *yaml.Node) {
					if !validField(field) {
						p.add(k.Line, v.name, "on.set: field %q: want letters, digits and _", field)
						return
					}
					if e := p.expr(e, v.name, "on.set."+field, exprField); e != nil {
						r.fields = append(r.fields, fieldRule{name: field, expr: e})
						r.usesData = r.usesData || e.usesData
						r.usesEvent = r.usesEvent || e.usesEvent
						r.eventRefs = r.eventRefs.add(e.eventRefs)
					}
				})
			},
		}, "type", "set")
		for _, t := range typs {
			if _, dup := v.rules[t]; dup {
				p.add(rn.Line, v.name, "on: event type %q has two rules", t)
				continue
			}
			v.rules[t] = r
		}
	})
}

// group compiles an aggregate view's group: an expression (a plain group,
// a time with day: true), or a list of named parts (a composite group, each
// part a string or, with its own day: true, a time).
func (p *parser) group(v *view, n *yaml.Node, path string, dayN *yaml.Node, viewLine int) {
	if n == nil {
		p.add(viewLine, v.name, "missing key %q", "group")
		return
	}
	var kind yaml.Kind
	p.w.Node(n, path, func(m *yaml.Node) { kind = m.Kind })
	switch kind {
	case 0:
		return // the walker said why
	case yaml.MappingNode:
		p.add(n.Line, v.name, "group: want an expression or a list of parts ({name, expr, day}), got a mapping")
		return
	case yaml.ScalarNode:
		if v.byDay {
			v.group = p.expr(n, v.name, "group", exprTime)
		} else {
			v.group = p.expr(n, v.name, "group", exprString)
		}
		return
	}
	if dayN != nil {
		p.add(dayN.Line, v.name, "day: a composite group takes day: true on its day part, not on the view")
	}
	seen := map[string]bool{}
	p.w.List(n, path, func(_ int, path string, pn *yaml.Node) {
		var gp groupPart
		var exprN *yaml.Node
		nameLine := pn.Line
		p.fields(pn, path, map[string]func(*yaml.Node, string){
			"name": func(n *yaml.Node, path string) { gp.name, nameLine = p.str(n, path) },
			"expr": func(n *yaml.Node, _ string) { exprN = n },
			"day":  func(n *yaml.Node, path string) { gp.day, _ = p.w.Bool(n, path) },
		}, "name", "expr")
		switch {
		case gp.name == "":
			return // missing: the walker says so
		case !nameRE.MatchString(gp.name):
			p.add(nameLine, v.name, "group.name %q: want lower-case letters, digits and _", gp.name)
		case seen[gp.name]:
			p.add(nameLine, v.name, "group: duplicate part name %q", gp.name)
		}
		seen[gp.name] = true
		if exprN == nil {
			return
		}
		k := exprString
		if gp.day {
			k = exprTime
		}
		if gp.expr = p.expr(exprN, v.name, "group."+gp.name, k); gp.expr != nil {
			v.parts = append(v.parts, gp)
		}
	})
	if len(seen) == 0 {
		p.add(n.Line, v.name, "group: want at least one part")
	}
}

func (p *parser) sums(v *view, n *yaml.Node, path string) {
	p.w.List(n, path, func(_ int, path string, sn *yaml.Node) {
		s := &sumRule{scale: -1}
		var exprN *yaml.Node
		p.fields(sn, path, map[string]func(*yaml.Node, string){
			"name": func(n *yaml.Node, path string) {
				var line int
				s.name, line = p.str(n, path)
				if !nameRE.MatchString(s.name) {
					p.add(line, v.name, "sums.name %q: want lower-case letters, digits and _", s.name)
				}
			},
			"expr": func(n *yaml.Node, _ string) { exprN = n },
			"scale": func(n *yaml.Node, path string) {
				if s.scale, _ = p.w.Int(n, path); s.scale < 0 || s.scale > 18 {
					p.add(n.Line, v.name, "sums.scale %d: want 0 to 18", s.scale)
				}
			},
		}, "name", "expr", "scale")
		if exprN != nil {
			s.expr = p.expr(exprN, v.name, "sums."+s.name, exprSum)
		}
		if slices.ContainsFunc(v.sums, func(o *sumRule) bool { return o.name == s.name }) {
			p.add(sn.Line, v.name, "sums: duplicate name %q", s.name)
		}
		v.sums = append(v.sums, s)
	})
}

func validField(s string) bool {
	if s == "" || strings.HasPrefix(s, "_") {
		return false
	}
	for _, c := range s {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func (p *parser) expr(n *yaml.Node, view, what string, k exprKind) *program {
	src, line := p.str(n, what)
	if src == "" {
		return nil
	}
	prg, err := p.env.compile(src, k)
	if err != nil {
		p.add(line, view, "%s: %v", what, err)
		return nil
	}
	prg.where = fmt.Sprintf("view %q %s (line %d)", view, what, line)
	prg.what, prg.line = what, line
	return prg
}

// errNoView is returned by View lookups of unknown names.
var errNoView = errors.New("no such view")

// Names returns the views' names in file order.
func (d *Definitions) Names() []string {
	out := make([]string, 0, len(d.views))
	for _, v := range d.views {
		out = append(out, v.name)
	}
	return out
}

// AggregateTypes returns the aggregate types the views follow, sorted.
func (d *Definitions) AggregateTypes() []string {
	var out []string
	for _, v := range d.views {
		if v.aggregate != "" {
			out = append(out, v.aggregate)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (d *Definitions) view(name string, kind Kind) (*view, error) {
	v, ok := d.byName[name]
	if !ok {
		return nil, fmt.Errorf("view %q: %w", name, errNoView)
	}
	if v.kind != kind {
		return nil, fmt.Errorf("view %q is a %s view, not a %s view", name, v.kind, kind)
	}
	return v, nil
}

package redisview

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
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
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.View != "" {
		fmt.Fprintf(&b, "view %q: ", e.View)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// DefinitionErrors is every problem found in a view file, in line order.
type DefinitionErrors []*DefinitionError

// Error implements error, one problem per line.
func (es DefinitionErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return "view definitions:\n  " + strings.Join(s, "\n  ")
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
	entity *view    // the entity view whose state they derive from
	when   *program // nil: every existing entity
	score  *program // index
	key    *program // index: optional partitioning key (one set per value)
	group  *program // aggregate
	byDay  bool     // aggregate: the group value is a time, grouped by local date
	sums   []*sumRule
	refs   stateRefs // the entity fields when, score, key, group and sums read

	// history
	types map[string]bool // nil: every event type
	max   int             // 0: unbounded
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
//	  - name: history
//	    kind: history
//	    aggregate: order
//	    types: [OrderRequested]    # optional filter
//	    max: 1000                  # optional: keep the last max events
func ParseDefinitions(src []byte) (*Definitions, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("view definitions: %w", err)
	}
	p := &parser{}
	defs := p.file(&root)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *DefinitionError) int { return a.Line - b.Line })
		return nil, p.errs
	}
	for _, v := range defs.views {
		v.refs = v.stateRefs()
	}
	return defs, nil
}

type parser struct {
	errs DefinitionErrors
	env  *celEnvs
}

func (p *parser) add(line int, view, format string, args ...any) {
	p.errs = append(p.errs, &DefinitionError{Line: line, View: view, Msg: fmt.Sprintf(format, args...)})
}

// fields walks the mapping n, calling the handler of each key; unknown keys,
// duplicates and missing required keys are problems.
func (p *parser) fields(n *yaml.Node, view, what string, h map[string]func(*yaml.Node), required ...string) {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, view, "%s: want a mapping", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fn, ok := h[k.Value]
		if !ok {
			keys := make([]string, 0, len(h))
			for key := range h {
				keys = append(keys, key)
			}
			slices.Sort(keys)
			p.add(k.Line, view, "%s: unknown key %q (want one of %s)", what, k.Value, strings.Join(keys, ", "))
			continue
		}
		if seen[k.Value] {
			p.add(k.Line, view, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		fn(v)
	}
	for _, r := range required {
		if !seen[r] {
			p.add(n.Line, view, "%s: missing key %q", what, r)
		}
	}
}

func (p *parser) str(n *yaml.Node, view, what string) (string, int) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.add(n.Line, view, "%s: want a string", what)
		return "", n.Line
	}
	return n.Value, n.Line
}

func (p *parser) integer(n *yaml.Node, view, what string) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.add(n.Line, view, "%s: want an integer", what)
		return 0
	}
	i, err := strconv.Atoi(n.Value)
	if err != nil {
		p.add(n.Line, view, "%s: %v", what, err)
	}
	return i
}

func (p *parser) boolean(n *yaml.Node, view, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.add(n.Line, view, "%s: want true or false", what)
		return false
	}
	return n.Value == "true"
}

// strs accepts a string or a list of strings.
func (p *parser) strs(n *yaml.Node, view, what string) []string {
	if n.Kind == yaml.ScalarNode {
		s, _ := p.str(n, view, what)
		return []string{s}
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, view, "%s: want a string or a list of strings", what)
		return nil
	}
	var out []string
	for _, e := range n.Content {
		s, _ := p.str(e, view, what)
		out = append(out, s)
	}
	return out
}

func (p *parser) file(root *yaml.Node) *Definitions {
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		p.add(1, "", "want one YAML document")
		return nil
	}
	d := &Definitions{Location: time.UTC, byName: map[string]*view{}}
	var viewNodes []*yaml.Node
	p.fields(root.Content[0], "", "view file", map[string]func(*yaml.Node){
		"version": func(n *yaml.Node) {
			if v := p.integer(n, "", "version"); v != 1 && len(p.errs) == 0 {
				p.add(n.Line, "", "version %d: want 1", v)
			}
		},
		"timezone": func(n *yaml.Node) {
			s, line := p.str(n, "", "timezone")
			loc, err := time.LoadLocation(s)
			if err != nil {
				p.add(line, "", "timezone %q: %v", s, err)
				return
			}
			d.Location = loc
		},
		"views": func(n *yaml.Node) {
			if n.Kind != yaml.SequenceNode {
				p.add(n.Line, "", "views: want a list")
				return
			}
			viewNodes = n.Content
		},
	}, "version", "views")
	env, err := newCELEnvs(d.Location)
	if err != nil {
		p.add(0, "", "create CEL environment: %v", err)
		return nil
	}
	p.env = env
	// Entities first, so that index and aggregate views may name any of them.
	var later []func()
	for _, n := range viewNodes {
		if v, done := p.view(n, d); v != nil {
			if done != nil {
				later = append(later, done)
			}
		}
	}
	for _, f := range later {
		f()
	}
	if len(d.views) == 0 && len(p.errs) == 0 {
		p.add(root.Content[0].Line, "", "views: want at least one view")
	}
	return d
}

// view decodes one view; done, when not nil, resolves references to other
// views once all are known.
func (p *parser) view(n *yaml.Node, d *Definitions) (*view, func()) {
	name := ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				name = n.Content[i+1].Value
			}
		}
	}
	v := &view{name: name, line: n.Line}
	var entityName string
	var entityLine int
	var onNodes, whenN, scoreN, keyN, groupN *yaml.Node
	var sumsN *yaml.Node
	var deletes, types []string
	p.fields(n, name, "view", map[string]func(*yaml.Node){
		"name": func(n *yaml.Node) {
			s, line := p.str(n, name, "name")
			if !nameRE.MatchString(s) {
				p.add(line, name, "name %q: want lower-case letters, digits and _", s)
			}
		},
		"kind": func(n *yaml.Node) {
			s, line := p.str(n, name, "kind")
			switch Kind(s) {
			case KindEntity, KindIndex, KindAggregate, KindHistory:
				v.kind = Kind(s)
			default:
				p.add(line, name, "kind %q: want entity, index, aggregate or history", s)
			}
		},
		"aggregate": func(n *yaml.Node) { v.aggregate, _ = p.str(n, name, "aggregate") },
		"entity":    func(n *yaml.Node) { entityName, entityLine = p.str(n, name, "entity") },
		"on":        func(n *yaml.Node) { onNodes = n },
		"delete_on": func(n *yaml.Node) { deletes = p.strs(n, name, "delete_on") },
		"when":      func(n *yaml.Node) { whenN = n },
		"score":     func(n *yaml.Node) { scoreN = n },
		"key":       func(n *yaml.Node) { keyN = n },
		"group":     func(n *yaml.Node) { groupN = n },
		"day":       func(n *yaml.Node) { v.byDay = p.boolean(n, name, "day") },
		"sums":      func(n *yaml.Node) { sumsN = n },
		"types":     func(n *yaml.Node) { types = p.strs(n, name, "types") },
		"max": func(n *yaml.Node) {
			if v.max = p.integer(n, name, "max"); v.max < 0 {
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
			p.entityRules(v, onNodes)
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
			if groupN == nil {
				p.add(n.Line, name, "missing key %q", "group")
			} else if v.byDay {
				v.group = p.expr(groupN, name, "group", exprTime)
			} else {
				v.group = p.expr(groupN, name, "group", exprString)
			}
			if sumsN != nil {
				p.sums(v, sumsN)
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

func (p *parser) entityRules(v *view, n *yaml.Node) {
	v.rules = map[string]*entityRule{}
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, v.name, "on: want a list of {type, set}")
		return
	}
	for _, rn := range n.Content {
		var typs []string
		r := &entityRule{line: rn.Line}
		p.fields(rn, v.name, "on", map[string]func(*yaml.Node){
			"type": func(n *yaml.Node) { typs = p.strs(n, v.name, "on.type") },
			"set": func(n *yaml.Node) {
				if n.Kind != yaml.MappingNode {
					p.add(n.Line, v.name, "on.set: want a mapping of field: expression")
					return
				}
				for i := 0; i+1 < len(n.Content); i += 2 {
					k := n.Content[i]
					if !validField(k.Value) {
						p.add(k.Line, v.name, "on.set: field %q: want letters, digits and _", k.Value)
						continue
					}
					if e := p.expr(n.Content[i+1], v.name, "on.set."+k.Value, exprField); e != nil {
						r.fields = append(r.fields, fieldRule{name: k.Value, expr: e})
						r.usesData = r.usesData || e.usesData
						r.usesEvent = r.usesEvent || e.usesEvent
						r.eventRefs = r.eventRefs.add(e.eventRefs)
					}
				}
			},
		}, "type", "set")
		for _, t := range typs {
			if _, dup := v.rules[t]; dup {
				p.add(rn.Line, v.name, "on: event type %q has two rules", t)
				continue
			}
			v.rules[t] = r
		}
	}
}

func (p *parser) sums(v *view, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, v.name, "sums: want a list of {name, expr, scale}")
		return
	}
	for _, sn := range n.Content {
		s := &sumRule{scale: -1}
		var exprN *yaml.Node
		p.fields(sn, v.name, "sums", map[string]func(*yaml.Node){
			"name": func(n *yaml.Node) {
				var line int
				s.name, line = p.str(n, v.name, "sums.name")
				if !nameRE.MatchString(s.name) {
					p.add(line, v.name, "sums.name %q: want lower-case letters, digits and _", s.name)
				}
			},
			"expr": func(n *yaml.Node) { exprN = n },
			"scale": func(n *yaml.Node) {
				if s.scale = p.integer(n, v.name, "sums.scale"); s.scale < 0 || s.scale > 18 {
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
	}
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
	src, line := p.str(n, view, what)
	if src == "" {
		return nil
	}
	prg, err := p.env.compile(src, k)
	if err != nil {
		p.add(line, view, "%s: %v", what, err)
		return nil
	}
	prg.where = fmt.Sprintf("view %q %s (line %d)", view, what, line)
	return prg
}

// errNoView is returned by View lookups of unknown names.
var errNoView = errors.New("no such view")

// Names returns the views' names in file order.
func (d *Definitions) Names() []string {
	out := make([]string, len(d.views))
	for i, v := range d.views {
		out[i] = v.name
	}
	return out
}

// AggregateTypes returns the aggregate types the views follow, sorted.
func (d *Definitions) AggregateTypes() []string {
	var out []string
	for _, v := range d.views {
		if v.aggregate != "" && !slices.Contains(out, v.aggregate) {
			out = append(out, v.aggregate)
		}
	}
	slices.Sort(out)
	return out
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

package cep

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/internal/strictyaml"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// Kind says what a rule detects.
type Kind string

// The rule kinds.
const (
	// KindAbsence: an event A not followed by an event B of the same key
	// within a duration (a timeout event; a B after it fired resolves it).
	KindAbsence Kind = "absence"
	// KindSequence: events A, then B, then C … of the same key within a
	// duration from A, each step's condition seeing the earlier matches.
	KindSequence Kind = "sequence"
	// KindCount: at least N matching events of one key in a window.
	KindCount Kind = "count"
	// KindSum: the exact sum of a decimal over the matching events of one
	// key in a window reaches a threshold.
	KindSum Kind = "sum"
)

// Rules is a compiled rule file: every CEL expression is compiled once,
// here; the result is immutable and safe for concurrent use.
type Rules struct {
	file  string
	rules []*rule
}

// RuleError is one problem of a rule file, with its file, line and rule.
type RuleError struct {
	File string // the rule file's name as given to ParseRules
	Line int    // 1-based; 0 when unknown
	Rule string // the rule's name, "" for file-level problems
	Msg  string
}

// Error implements error: "cep.yaml:12: rule \"x\": msg".
func (e *RuleError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, ": rule %q", e.Rule)
	}
	return b.String() + ": " + e.Msg
}

// RuleErrors is every problem found in a rule file, in line order.
type RuleErrors []*RuleError

// Error implements error, one problem per line.
func (es RuleErrors) Error() string {
	var b strings.Builder
	b.WriteString("cep rules:")
	for _, e := range es {
		b.WriteString("\n  " + e.Error())
	}
	return b.String()
}

// Unwrap returns the problems one by one.
func (es RuleErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// rule is one compiled rule.
type rule struct {
	name      string
	version   int
	kind      Kind
	line      int
	ordinal   int    // index in the file
	digest    string // of the rule's definition, to refuse a change without a version bump
	aggregate string // aggregate type of the derived events
	key       *program
	keyLine   int

	// steps: absence [start, expect]; sequence the steps; count/sum [on].
	steps  []*step
	within time.Duration // absence, sequence

	// count and sum
	window   time.Duration
	tumbling bool
	atLeast  int             // count
	sumMin   decimal.Decimal // sum
	value    *program        // sum

	emit          *emitSpec
	resolve       *emitSpec     // absence, optional
	resolveWithin time.Duration // absence: how long a fired timeout waits for its resolution
}

// step is one event pattern of a rule.
type step struct {
	name  string          // "start", "expect", a sequence step's name, "on"
	types map[string]bool // event types it matches
	line  int             // of its types
	when  *program        // nil: every event of its types
}

// emitSpec says how a derived event is built.
type emitSpec struct {
	typ     string
	version int
	line    int
	fields  []emitField // sorted by name
}

type emitField struct {
	name string
	expr *program
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
var typeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]*$`)

// maxWindow bounds every duration of a rule: the state is bounded by the
// longest one, and a year is far beyond any temporal rule worth keeping.
const maxWindow = 366 * 24 * time.Hour

// ParseRules decodes and compiles the rule file src, named file in errors.
// Decoding is strict (strictyaml): an unknown key (with the nearest known
// ones), a missing required key, a wrong kind of value, a CEL expression
// that does not compile or has the wrong result type, or a duplicate rule
// name is an error naming the file, the line and the rule. It returns
// RuleErrors when the file has problems. It does no I/O.
//
// The file (docs/cep.md has the whole language):
//
//	version: 1
//	rules:
//	  - name: order_overdue
//	    version: 1
//	    kind: absence                  # absence, sequence, count or sum
//	    aggregate: order               # aggregate type of the derived events
//	    key: event.aggregate_id        # optional CEL; this is the default
//	    start: {type: OrderPromised}
//	    expect: {type: [OrderDeclared, OrderRevoked]}
//	    within: 24h
//	    emit:
//	      type: OrderOverdue
//	      version: 1
//	      data: {order_id: matched.start.data.order_id, due: deadline}
//	    resolve:                       # optional: a B after the timeout fired
//	      type: OrderOverdueResolved
//	      version: 1
//	      data: {order_id: matched.start.data.order_id}
func ParseRules(file string, src []byte) (*Rules, error) {
	p := &parser{file: file}
	root, err := strictyaml.Parse(src)
	var extra *strictyaml.ExtraDocumentError
	switch {
	case errors.Is(err, strictyaml.ErrEmpty), errors.As(err, &extra):
		p.add(1, "", "want one YAML document")
	case err != nil:
		return nil, fmt.Errorf("cep rules %s: %w", file, err)
	}
	rs := &Rules{file: file}
	if root != nil {
		p.rulesFile(root, rs)
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *RuleError) int { return a.Line - b.Line })
		return nil, p.errs
	}
	return rs, nil
}

// File returns the name the rules were parsed under.
func (rs *Rules) File() string { return rs.file }

// Names returns the rules' names in file order.
func (rs *Rules) Names() []string {
	out := make([]string, len(rs.rules))
	for i, r := range rs.rules {
		out[i] = r.name
	}
	return out
}

// MaxWindow returns the longest duration any rule keeps state for: the
// bound of the engine's state in event time.
func (rs *Rules) MaxWindow() time.Duration {
	var m time.Duration
	for _, r := range rs.rules {
		m = max(m, r.within, r.window, r.resolveWithin)
	}
	return m
}

// parser compiles a rule file; the walking itself is strictyaml's.
type parser struct {
	file string
	errs RuleErrors
	w    strictyaml.Walker
	envs *celEnvs
}

func (p *parser) add(line int, rule, format string, args ...any) {
	p.errs = append(p.errs, &RuleError{File: p.file, Line: line, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

// drain moves the walker's problems into the parser's, naming rule.
func (p *parser) drain(rule string) {
	for _, pr := range p.w.Problems {
		p.add(pr.Line, rule, "%s", pr.Text())
	}
	p.w.Problems = nil
}

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

func (p *parser) duration(n *yaml.Node, path, rule string) time.Duration {
	d, ok := p.w.Duration(n, path)
	if ok && (d <= 0 || d > maxWindow) {
		p.add(n.Line, rule, "%s %v: want more than 0 and at most %v", path, d, maxWindow)
	}
	return d
}

// rulesFile decodes the file's top level, then each rule.
func (p *parser) rulesFile(root *yaml.Node, rs *Rules) {
	var ruleNodes []*yaml.Node
	var rulePaths []string
	p.fields(root, "", map[string]func(*yaml.Node, string){
		"version": func(n *yaml.Node, path string) {
			if v, ok := p.w.Int(n, path); ok && v != 1 {
				p.add(n.Line, "", "version %d: want 1", v)
			}
		},
		"rules": func(n *yaml.Node, path string) {
			p.w.List(n, path, func(_ int, path string, n *yaml.Node) {
				ruleNodes = append(ruleNodes, n)
				rulePaths = append(rulePaths, path)
			})
		},
	}, "version", "rules")
	p.drain("")
	envs, err := newCELEnvs()
	if err != nil {
		p.add(0, "", "create CEL environment: %v", err)
		return
	}
	p.envs = envs
	seen := map[string]bool{}
	for i, n := range ruleNodes {
		r := p.rule(n, rulePaths[i], "")
		if r == nil {
			continue
		}
		if seen[r.name] {
			p.add(r.line, r.name, "duplicate rule name")
			continue
		}
		seen[r.name] = true
		r.ordinal = len(rs.rules)
		rs.rules = append(rs.rules, r)
	}
	if len(rs.rules) == 0 && len(p.errs) == 0 {
		p.add(root.Line, "", "rules: want at least one rule")
	}
}

// allowed lists the keys each kind takes beyond name, version, kind,
// aggregate, key and emit.
var allowed = map[Kind][]string{
	KindAbsence:  {"start", "expect", "within", "resolve"},
	KindSequence: {"steps", "within"},
	KindCount:    {"on", "window", "tumbling", "at_least"},
	KindSum:      {"on", "window", "tumbling", "at_least", "value"},
}

// rule decodes one rule: listPath names it in file-level problems, and the
// keys inside it are named from the rule (path), since every problem names
// the rule anyway.
func (p *parser) rule(n *yaml.Node, listPath, path string) *rule {
	p.w.Node(n, listPath, func(m *yaml.Node) { n = m })
	name := ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				name = n.Content[i+1].Value
			}
		}
	}
	defer p.drain(name)
	r := &rule{name: name, line: n.Line}
	nodes := map[string]*yaml.Node{}
	paths := map[string]string{}
	keep := func(k string) func(*yaml.Node, string) {
		return func(n *yaml.Node, path string) { nodes[k], paths[k] = n, path }
	}
	h := map[string]func(*yaml.Node, string){
		"name": func(n *yaml.Node, path string) {
			s, line := p.str(n, path)
			if !nameRE.MatchString(s) {
				p.add(line, name, "name %q: want lower-case letters, digits and _", s)
			}
		},
		"version": func(n *yaml.Node, path string) {
			if r.version, _ = p.w.Int(n, path); r.version < 1 {
				p.add(n.Line, name, "version %d: want 1 or more", r.version)
			}
		},
		"kind": func(n *yaml.Node, path string) {
			s, line := p.str(n, path)
			if _, ok := allowed[Kind(s)]; !ok {
				p.add(line, name, "kind %q: want absence, sequence, count or sum%s", s,
					strictyaml.DidYouMean(s, []string{"absence", "sequence", "count", "sum"}))
				return
			}
			r.kind = Kind(s)
		},
		"aggregate": func(n *yaml.Node, path string) {
			var line int
			if r.aggregate, line = p.str(n, path); !nameRE.MatchString(r.aggregate) {
				p.add(line, name, "aggregate %q: want lower-case letters, digits and _", r.aggregate)
			}
		},
		"within":   func(n *yaml.Node, path string) { r.within, nodes["within"] = p.duration(n, path, name), n },
		"window":   func(n *yaml.Node, path string) { r.window, nodes["window"] = p.duration(n, path, name), n },
		"tumbling": func(n *yaml.Node, path string) { r.tumbling, _ = p.w.Bool(n, path) },
	}
	for _, k := range []string{"key", "start", "expect", "steps", "on", "at_least", "value", "emit", "resolve"} {
		h[k] = keep(k)
	}
	p.fields(n, path, h, "name", "version", "kind", "aggregate", "emit")
	if n.Kind != yaml.MappingNode || r.kind == "" || !nameRE.MatchString(name) || r.version < 1 {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if _, ok := h[k]; ok && !slices.Contains([]string{"name", "version", "kind", "aggregate", "key", "emit"}, k) &&
			!slices.Contains(allowed[r.kind], k) {
			p.add(n.Content[i].Line, name, "key %q does not apply to a %s rule (it takes %s)", k, r.kind, strings.Join(allowed[r.kind], ", "))
		}
	}
	r.digest = digestOf(n)
	need := func(k string) *yaml.Node {
		if nodes[k] == nil {
			p.add(n.Line, name, "missing key %q", k)
		}
		return nodes[k]
	}
	var names []string // the matched events the emit data may read
	switch r.kind {
	case KindAbsence:
		start, expect := need("start"), need("expect")
		if start != nil {
			r.steps = append(r.steps, p.step(r, start, paths["start"], "start", nil))
		}
		if expect != nil {
			r.steps = append(r.steps, p.step(r, expect, paths["expect"], "expect", []string{"start"}))
		}
		names = []string{"start"}
		if rn := nodes["resolve"]; rn != nil {
			r.resolve = p.emit(r, rn, paths["resolve"], []string{"start", "expect"}, true)
		}
	case KindSequence:
		if sn := need("steps"); sn != nil {
			p.w.List(sn, paths["steps"], func(_ int, path string, item *yaml.Node) {
				var stepName string
				p.w.Node(item, path, func(m *yaml.Node) {
					if m.Kind != yaml.MappingNode {
						return
					}
					for i := 0; i+1 < len(m.Content); i += 2 {
						if m.Content[i].Value == "name" {
							stepName = m.Content[i+1].Value
						}
					}
				})
				switch {
				case !nameRE.MatchString(stepName):
					p.add(item.Line, name, "steps: name %q: want lower-case letters, digits and _", stepName)
					return
				case slices.Contains(names, stepName):
					p.add(item.Line, name, "steps: duplicate step name %q", stepName)
					return
				}
				r.steps = append(r.steps, p.step(r, item, path, stepName, slices.Clone(names)))
				names = append(names, stepName)
			})
			if len(r.steps) < 2 && len(p.errs) == 0 {
				p.add(sn.Line, name, "steps: want at least two steps")
			}
		}
	case KindCount, KindSum:
		if on := need("on"); on != nil {
			r.steps = append(r.steps, p.step(r, on, paths["on"], "on", nil))
		}
		need("window")
		if al := need("at_least"); al != nil {
			p.atLeast(r, al, paths["at_least"])
		}
		if r.kind == KindSum {
			if vn := need("value"); vn != nil {
				r.value = p.expr(vn, name, "value", exprSum, envEvent, nil)
			}
		}
		names = []string{"first", "last"}
	}
	if r.kind == KindAbsence || r.kind == KindSequence {
		need("within")
	}
	if r.kind == KindAbsence && r.resolve != nil && r.resolveWithin == 0 {
		r.resolveWithin = r.within
	}
	if kn := nodes["key"]; kn != nil {
		r.key = p.expr(kn, name, "key", exprKey, envEvent, nil)
		r.keyLine = kn.Line
	}
	if en := nodes["emit"]; en != nil {
		r.emit = p.emit(r, en, paths["emit"], names, false)
	}
	return r
}

// digestOf returns a digest of the rule's definition: the same text gives
// the same digest, whatever its position in the file.
func digestOf(n *yaml.Node) string {
	b, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// step decodes {type, when} (and name for a sequence step); earlier names
// the matches its condition may read.
func (p *parser) step(r *rule, n *yaml.Node, path, name string, earlier []string) *step {
	s := &step{name: name, types: map[string]bool{}, line: n.Line}
	var whenN *yaml.Node
	h := map[string]func(*yaml.Node, string){
		"type": func(n *yaml.Node, path string) {
			s.line = n.Line
			for _, t := range p.strs(n, path) {
				if !typeRE.MatchString(t) {
					p.add(n.Line, r.name, "%s: type %q: want an event type name", path, t)
					continue
				}
				s.types[t] = true
			}
		},
		"when": func(n *yaml.Node, _ string) { whenN = n },
	}
	if r.kind == KindSequence {
		h["name"] = func(*yaml.Node, string) {}
	}
	p.fields(n, path, h, "type")
	if whenN != nil {
		env := envEvent
		if len(earlier) > 0 {
			env = envStep
		}
		s.when = p.expr(whenN, r.name, path+".when", exprBool, env, earlier)
	}
	return s
}

func (p *parser) atLeast(r *rule, n *yaml.Node, path string) {
	if r.kind == KindCount {
		if v, ok := p.w.Int(n, path); ok {
			if v < 1 {
				p.add(n.Line, r.name, "at_least %d: want 1 or more", v)
			}
			r.atLeast = v
		}
		return
	}
	s, line := p.str(n, path)
	d, err := decimal.Parse(s)
	if err != nil || !d.IsFinite() {
		p.add(line, r.name, "at_least %q: want a decimal number such as \"1000.00\"", s)
		return
	}
	r.sumMin = d
}

// emit decodes {type, version, data, within}; names are the matched events
// its data may read (matched.NAME).
func (p *parser) emit(r *rule, n *yaml.Node, path string, names []string, resolve bool) *emitSpec {
	e := &emitSpec{line: n.Line}
	var dataN *yaml.Node
	var dataPath string
	h := map[string]func(*yaml.Node, string){
		"type": func(n *yaml.Node, path string) {
			var line int
			if e.typ, line = p.str(n, path); !typeRE.MatchString(e.typ) {
				p.add(line, r.name, "%s: %q: want an event type name", path, e.typ)
			}
		},
		"version": func(n *yaml.Node, path string) {
			if e.version, _ = p.w.Int(n, path); e.version < 1 {
				p.add(n.Line, r.name, "%s %d: want 1 or more", path, e.version)
			}
		},
		"data": func(n *yaml.Node, path string) { dataN, dataPath = n, path },
	}
	if resolve {
		h["within"] = func(n *yaml.Node, path string) { r.resolveWithin = p.duration(n, path, r.name) }
	}
	p.fields(n, path, h, "type", "version")
	if dataN != nil {
		p.w.Entries(dataN, dataPath, func(field, fpath string, k, v *yaml.Node) {
			if !validField(field) {
				p.add(k.Line, r.name, "%s: field %q: want letters, digits and _", fpath, field)
				return
			}
			if x := p.expr(v, r.name, fpath, exprAny, envFor(r.kind), names); x != nil {
				e.fields = append(e.fields, emitField{name: field, expr: x})
			}
		})
		slices.SortFunc(e.fields, func(a, b emitField) int { return strings.Compare(a.name, b.name) })
	}
	return e
}

func validField(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func (p *parser) expr(n *yaml.Node, rule, what string, k exprKind, env envKind, names []string) *program {
	src, line := p.str(n, what)
	if src == "" {
		if line != 0 && len(p.w.Problems) == 0 {
			p.add(line, rule, "%s: want a CEL expression", what)
		}
		return nil
	}
	prg, err := p.envs.compile(src, k, env)
	if err != nil {
		p.add(line, rule, "%s: %v", what, err)
		return nil
	}
	prg.what, prg.line = what, line
	prg.where = fmt.Sprintf("rule %q %s (%s:%d)", rule, what, p.file, line)
	for _, path := range prg.matchedPaths {
		if !slices.Contains(names, path[0]) {
			p.add(line, rule, "%s: matched.%s: no such match (this expression sees %s)%s", what, path[0],
				seeList(names), strictyaml.DidYouMean(path[0], names))
		}
	}
	return prg
}

func seeList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

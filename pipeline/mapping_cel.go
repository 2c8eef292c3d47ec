package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/parser"

	"github.com/cdcflow/cdcflow/capture"
)

// The names rule expressions see. ctxVar is hidden: the changed and unchanged
// macros expand to calls that read the change through it.
const (
	ctxVar        = "__change"
	changedFunc   = "__changed"
	unchangedFunc = "__unchanged"
)

// newRuleEnv returns the CEL environment of rule expressions.
func newRuleEnv() (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.Variable("op", cel.StringType),
		cel.Variable("row", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("old", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("tx", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("source", cel.StringType),
		cel.Variable("table", cel.StringType),
		cel.Variable(ctxVar, cel.DynType),
		cel.Function(changedFunc, cel.Overload("__changed_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(c, col ref.Val) ref.Val { return columnTest(c, col, true) }))),
		cel.Function(unchangedFunc, cel.Overload("__unchanged_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, cel.BoolType,
			cel.BinaryBinding(func(c, col ref.Val) ref.Val { return columnTest(c, col, false) }))),
		cel.Macros(
			cel.GlobalMacro("changed", 1, columnMacro(changedFunc)),
			cel.GlobalMacro("unchanged", 1, columnMacro(unchangedFunc)),
		),
		CELFunctions(),
	}
	return cel.NewEnv(opts...)
}

// columnMacro expands changed("col") to __changed(__change, "col"), insisting
// on a literal column name so the check can see which column a rule uses.
func columnMacro(fn string) parser.MacroExpander {
	return func(eh parser.ExprHelper, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
		if !isStringLiteral(args[0]) {
			return nil, eh.NewError(args[0].ID(), strings.TrimPrefix(fn, "__")+"() takes a column name in quotes, e.g. "+strings.TrimPrefix(fn, "__")+`("status")`)
		}
		return eh.NewCall(fn, eh.NewIdent(ctxVar), args[0]), nil
	}
}

func isStringLiteral(e ast.Expr) bool {
	if e.Kind() != ast.LiteralKind {
		return false
	}
	_, ok := e.AsLiteral().(types.String)
	return ok
}

// columnTest implements changed (wantChanged) and unchanged.
func columnTest(c, col ref.Val, wantChanged bool) ref.Val {
	a, ok := c.Value().(*activation)
	name, ok2 := col.(types.String)
	if !ok || !ok2 {
		return types.NewErr("changed/unchanged: bad arguments")
	}
	if wantChanged {
		return a.changed(string(name))
	}
	return types.Bool(a.unchanged(string(name)))
}

// program is one compiled expression with what the check needs to know of it.
type program struct {
	src  string
	line int
	prg  cel.Program
	// column is set when the expression is exactly row.<column>: the field is
	// then encoded straight from the captured value, without CEL.
	column string
	// oldColumn is set when the expression is exactly old.<column>.
	oldColumn string
	// out is the result type the CEL checker found (dyn when it cannot
	// tell); DraftSchemas reads it.
	out *cel.Type
	// refs are the columns the expression names.
	refs []colRef
	// ops, when non-zero, is the set of ops (bit 1<<capture.Op) outside which
	// a condition is false whatever the row: it has a conjunct such as
	// op == "update" or (op == "insert" || op == "update"). The mapper skips
	// the rule for other ops without evaluating it.
	ops uint8
	// opsOnly is set when the condition is nothing but op tests (op == "x",
	// or a disjunction of them): ops then decides it, and it is never
	// evaluated.
	opsOnly bool
}

type colRef struct {
	name  string
	old   bool // reads the old value: old.col or changed("col")
	probe bool // only asks about the column: unchanged("col")
}

// syntaxErrorsFirst returns only the syntax errors of errs when there are
// any: the parser recovers from a syntax error by guessing, and what the
// macros and the checker then say about its guess (e.g. that changed() wants
// a quoted column name, although the name is quoted) only misleads.
func syntaxErrorsFirst(errs []*common.Error) []*common.Error {
	var syntax []*common.Error
	for _, e := range errs {
		if strings.HasPrefix(e.Message, "Syntax error") {
			syntax = append(syntax, e)
		}
	}
	if len(syntax) > 0 {
		return syntax
	}
	return errs
}

// compileExpr compiles src; want says what type the result must have (nil: any).
// Errors are reported at the line of the expression inside the file.
func (c *compiler) compileExpr(s srcText, rule, what string, want *cel.Type) *program {
	a, iss := c.env.Compile(s.text)
	if iss != nil && iss.Err() != nil {
		for _, e := range syntaxErrorsFirst(iss.Errors()) {
			line := s.line
			if e.Location != nil && e.Location.Line() > 0 {
				line += e.Location.Line() - 1
				if s.block {
					line++
				}
			}
			c.p.add(line, rule, "%s: %s", what, e.Message)
		}
		return nil
	}
	if want != nil {
		out := a.OutputType()
		if !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
			c.p.add(s.line, rule, "%s must be of type %s, not %s", what, want, out)
			return nil
		}
	}
	prg, err := c.env.Program(a, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		c.p.add(s.line, rule, "%s: %v", what, err)
		return nil
	}
	p := &program{src: s.text, line: s.line, prg: prg, out: a.OutputType()}
	root := a.NativeRep().Expr()
	if want == cel.BoolType {
		p.ops = opFilter(root)
		p.opsOnly = p.ops != 0 && onlyOpTests(root)
	}
	if col, ok := rowSelect(root, "row"); ok {
		p.column = col
	}
	if col, ok := rowSelect(root, "old"); ok {
		p.oldColumn = col
	}
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.SelectKind:
			for _, v := range []string{"row", "old"} {
				if col, ok := rowSelectAny(e, v); ok {
					p.refs = append(p.refs, colRef{name: col, old: v == "old"})
				}
			}
		case ast.CallKind:
			call := e.AsCall()
			args := call.Args()
			switch call.FunctionName() {
			case "_[_]":
				if len(args) == 2 && args[0].Kind() == ast.IdentKind && isStringLiteral(args[1]) {
					if v := args[0].AsIdent(); v == "row" || v == "old" {
						p.refs = append(p.refs, colRef{name: string(args[1].AsLiteral().(types.String)), old: v == "old"})
					}
				}
			case changedFunc, unchangedFunc:
				if len(args) == 2 && isStringLiteral(args[1]) {
					p.refs = append(p.refs, colRef{name: string(args[1].AsLiteral().(types.String)),
						old: call.FunctionName() == changedFunc, probe: call.FunctionName() == unchangedFunc})
				}
			}
		}
	}))
	return p
}

// opFilter returns the ops a condition can be true for, from its top-level
// conjuncts of the form op == "x" (or disjunctions of them); 0 means any.
func opFilter(e ast.Expr) uint8 {
	if e.Kind() != ast.CallKind {
		return 0
	}
	call := e.AsCall()
	switch call.FunctionName() {
	case operators.LogicalAnd:
		var set uint8
		for _, a := range call.Args() {
			if f := opFilter(a); f != 0 {
				if set == 0 {
					set = f
				} else {
					set &= f
				}
			}
		}
		if set == 0 && hasOpConjunct(call.Args()) {
			return opNone
		}
		return set
	case operators.LogicalOr:
		var set uint8
		for _, a := range call.Args() {
			f := opFilter(a)
			if f == 0 {
				return 0
			}
			set |= f
		}
		return set
	case operators.Equals:
		args := call.Args()
		if len(args) != 2 {
			return 0
		}
		l, r := args[0], args[1]
		if r.Kind() == ast.IdentKind {
			l, r = r, l
		}
		if l.Kind() != ast.IdentKind || l.AsIdent() != "op" || !isStringLiteral(r) {
			return 0
		}
		for op := capture.OpInsert; op <= capture.OpRead; op++ {
			if op.String() == string(r.AsLiteral().(types.String)) {
				return 1 << op
			}
		}
		return opNone
	}
	return 0
}

// onlyOpTests reports whether e is op == "x" (either way round) or a
// disjunction of such tests, so that opFilter(e) is its whole truth.
func onlyOpTests(e ast.Expr) bool {
	if e.Kind() != ast.CallKind {
		return false
	}
	call := e.AsCall()
	switch call.FunctionName() {
	case operators.LogicalOr:
		for _, a := range call.Args() {
			if !onlyOpTests(a) {
				return false
			}
		}
		return true
	case operators.Equals:
		f := opFilter(e)
		return f != 0 && f != opNone
	}
	return false
}

// opNone marks a condition no op can satisfy (op == "upsert", or two
// different op tests joined by &&).
const opNone uint8 = 1

// hasOpConjunct reports whether some conjunct tests op, for telling "no op
// fits" from "no op test".
func hasOpConjunct(args []ast.Expr) bool {
	for _, a := range args {
		if opFilter(a) != 0 {
			return true
		}
	}
	return false
}

// rowSelect reports whether e is exactly v.<column> (not a has() test).
func rowSelect(e ast.Expr, v string) (string, bool) {
	if e.Kind() != ast.SelectKind || e.AsSelect().IsTestOnly() {
		return "", false
	}
	return rowSelectAny(e, v)
}

func rowSelectAny(e ast.Expr, v string) (string, bool) {
	sel := e.AsSelect()
	op := sel.Operand()
	if op.Kind() != ast.IdentKind || op.AsIdent() != v {
		return "", false
	}
	return sel.FieldName(), true
}

// compiler turns a decoded file into a Mapping, reporting problems.
type compiler struct {
	m   *Mapping
	p   *problems
	env *cel.Env // the environment expressions are compiled in
}

func (c *compiler) info(name TableName, line int) *tableInfo {
	t, ok := c.m.tables[name]
	if !ok {
		t = &tableInfo{name: name, label: name.String(), line: line, exclude: map[string]bool{}}
		c.m.tables[name] = t
		c.m.order = append(c.m.order, t)
	}
	return t
}

func (c *compiler) tables(docs []tableDoc) {
	// First every table entry, so that gathers can find their tables.
	type pending struct {
		t   *tableInfo
		doc tableDoc
	}
	var entries []pending
	for _, d := range docs {
		if d.table.text == "" {
			continue
		}
		name, err := ParseTableName(d.table.text)
		if err != nil {
			c.p.add(d.table.line, "", "%v", err)
			continue
		}
		if _, dup := c.m.tables[name]; dup {
			c.p.add(d.table.line, "", "table %s is mapped twice: put all its events in one entry", name)
			continue
		}
		t := c.info(name, d.line)
		for _, e := range d.exclude {
			t.exclude[e.text] = true
			t.excluded = append(t.excluded, e.text)
		}
		slices.Sort(t.excluded)
		entries = append(entries, pending{t, d})
	}
	for _, e := range entries {
		c.table(e.t, e.doc)
	}
	for _, t := range c.m.order {
		for _, u := range t.uses {
			if t.exclude[u.column] {
				c.p.add(u.line, u.rule, "uses column %q, which the table entry excludes", u.column)
			}
		}
	}
}

func (c *compiler) table(t *tableInfo, d tableDoc) {
	if !d.hasAggDoc {
		if d.state != nil || len(d.events) > 0 {
			c.p.add(d.line, "", "table %s has events but no aggregate (type and id)", t.name)
		}
	} else {
		t.aggType = d.aggType.text
		if t.aggType != "" && !validName(t.aggType) {
			c.p.add(d.aggType.line, "", "aggregate type %q must be letters, digits, '_', '-' or '.' (it names a topic)", t.aggType)
		}
		if t.aggType != "" && c.m.Topic(t.aggType) == c.m.DeadLetterTopic() {
			c.p.add(d.aggType.line, "", "aggregate type %q would share topic %q with the dead letters", t.aggType, c.m.DeadLetterTopic())
		}
		rule := t.name.String() + "/aggregate"
		if d.aggID.text != "" {
			t.aggID = c.compileExpr(d.aggID, rule, "aggregate.id", nil)
			c.uses(t, rule, t.aggID)
		}
	}
	if d.state != nil {
		t.state = c.event(t, *d.state, true)
		if t.state != nil {
			t.stateRules = []*eventRule{t.state}
		}
	}
	names := map[string]int{}
	for _, ed := range d.events {
		r := c.event(t, ed, false)
		if r == nil {
			continue
		}
		if prev, dup := names[r.name]; dup {
			c.p.add(ed.line, r.name, "a rule of this name is already declared on line %d: give one a name", prev)
		}
		names[r.name] = ed.line
		t.events = append(t.events, r)
	}
}

// validName says whether s can be part of a Kafka topic name.
func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return s != ""
}

func (c *compiler) uses(t *tableInfo, rule string, p *program) {
	if p == nil {
		return
	}
	for _, r := range p.refs {
		t.uses = append(t.uses, use{rule: rule, line: p.line, column: r.name, old: r.old})
	}
}

func (c *compiler) event(t *tableInfo, d eventDoc, state bool) *eventRule {
	if d.typ.text == "" {
		return nil
	}
	r := &eventRule{typ: d.typ.text, version: d.version, line: d.line, table: t.label}
	if !validName(r.typ) {
		c.p.add(d.typ.line, "", "event type %q must be letters, digits, '_', '-' or '.'", r.typ)
	}
	if strings.HasPrefix(r.typ, "cdcflow.") {
		c.p.add(d.typ.line, "", "event type %q: the prefix \"cdcflow.\" is reserved for control records and dead letters", r.typ)
	}
	name := d.name
	if name == "" {
		name = r.typ
	}
	r.name = t.name.String() + "/" + name
	if d.version < 1 {
		c.p.add(d.line, r.name, "version must be 1 or more")
	}
	if d.when.text != "" {
		r.when = c.compileExpr(d.when, r.name, "when", cel.BoolType)
		c.uses(t, r.name, r.when)
	}
	r.fields = c.fields(t, r.name, d.data)
	if state && len(d.gather) > 0 {
		c.p.add(d.line, r.name, "a state event cannot gather rows")
	}
	for _, gd := range d.gather {
		if g := c.gather(t, r, gd); g != nil {
			r.gathers = append(r.gathers, g)
		}
	}
	return r
}

func (c *compiler) fields(t *tableInfo, rule string, docs []fieldDoc) []*field {
	var out []*field
	for _, fd := range docs {
		if fd.name == "unchanged" {
			c.p.add(fd.line, rule, `field name "unchanged" is reserved: it lists the fields left out because their TOASTed column did not change`)
			continue
		}
		if fd.expr.text == "" {
			continue
		}
		p := c.compileExpr(fd.expr, rule, "field "+fd.name, nil)
		if p == nil {
			continue
		}
		if t != nil {
			c.uses(t, rule, p)
		}
		out = append(out, &field{name: fd.name, prg: p, asString: fd.asString})
	}
	return out
}

func (c *compiler) gather(parent *tableInfo, r *eventRule, d gatherDoc) *gatherRule {
	name, err := ParseTableName(d.table.text)
	if err != nil {
		c.p.add(d.table.line, r.name, "gather: %v", err)
		return nil
	}
	if name == parent.name {
		c.p.add(d.table.line, r.name, "gather: a rule cannot gather rows of its own table")
		return nil
	}
	for _, f := range r.fields {
		if f.name == d.field.text {
			c.p.add(d.field.line, r.name, "gather: field %q is also in data", d.field.text)
		}
	}
	child := c.info(name, d.line)
	g := &gatherRule{
		rule:   r.name + "/" + d.field.text,
		line:   d.line,
		parent: r,
		owner:  parent,
		field:  d.field.text,
		table:  name,
	}
	g.key = c.compileExpr(d.key, g.rule, "gather.key", nil)
	c.uses(child, g.rule, g.key)
	if d.when.text != "" {
		g.when = c.compileExpr(d.when, g.rule, "gather.when", cel.BoolType)
		c.uses(child, g.rule, g.when)
	}
	g.fields = c.fields(child, g.rule, d.data)
	child.gathers = append(child.gathers, g)
	return g
}

// versions records the version each event type is emitted at and checks that
// every type has one version and a schema for it.
func (c *compiler) versions() {
	check := func(r *eventRule) {
		if r == nil {
			return
		}
		if v, ok := c.m.versions[r.typ]; ok && v != r.version {
			c.p.add(r.line, r.name, "event %s is emitted at version %d here and %d elsewhere: one type has one current version", r.typ, r.version, v)
			return
		}
		c.m.versions[r.typ] = r.version
		if c.m.schemas != nil && c.m.schemas.get(r.typ, r.version) == nil {
			c.p.add(r.line, r.name, "no schema for %s version %d: add %s", r.typ, r.version, schemaFileName(r.typ, r.version))
		}
	}
	for _, t := range c.m.order {
		check(t.state)
		for _, r := range t.events {
			check(r)
		}
	}
	if c.m.schemas != nil {
		for _, typ := range c.m.schemas.types() {
			vs := c.m.schemas.versions(typ)
			cur, used := c.m.versions[typ]
			if !used {
				continue
			}
			for _, v := range vs {
				if v > cur {
					c.p.add(0, "", "schema %s exists but the rules emit %s version %d", schemaFileName(typ, v), typ, cur)
				}
			}
			for v := 1; v < cur; v++ {
				if c.m.schemas.get(typ, v) != nil && c.m.upcast.get(typ, v) == nil {
					c.p.add(0, "", "%s has schemas for versions %d and %d but no upcaster from %d", typ, v, cur, v)
				}
			}
		}
	}
}

// fmtType names an event version in messages: "OrderRequested v2".
func fmtType(typ string, version int) string { return fmt.Sprintf("%s v%d", typ, version) }

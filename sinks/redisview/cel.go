package redisview

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/cdcflow/cdcflow/internal/jsonx"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// exprKind says where an expression is used: which variables it sees and
// which results it may give.
type exprKind uint8

const (
	exprField  exprKind = iota // entity field: data, event, state -> scalar or null
	exprBool                   // index/aggregate predicate: state -> bool
	exprScore                  // index score: state -> int, double, decimal or timestamp
	exprString                 // index key, aggregate group: state -> string
	exprTime                   // aggregate group by day: state -> timestamp or date-time string
	exprSum                    // aggregate sum: state -> decimal or int
)

// celEnvs holds the two CEL environments of view expressions.
type celEnvs struct {
	entity  *cel.Env // data, event, state
	derived *cel.Env // state only: index and aggregate views derive from state alone
}

func newCELEnvs(loc *time.Location) (*celEnvs, error) {
	base := []cel.EnvOption{
		pipeline.CELFunctions(),
		cel.Variable("state", cel.MapType(cel.StringType, cel.StringType)),
		// datetime reads an RFC 3339 time, or a date-time or date without an
		// offset (a PostgreSQL timestamp without time zone, as events carry
		// it) in the view file's time zone.
		cel.Function("datetime", cel.Overload("datetime_string", []*cel.Type{cel.StringType}, cel.TimestampType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				t, err := parseDateTime(string(s), loc)
				if err != nil {
					return types.WrapErr(err)
				}
				return types.Timestamp{Time: t}
			}))),
	}
	derived, err := cel.NewEnv(base...)
	if err != nil {
		return nil, err
	}
	entity, err := cel.NewEnv(append(base,
		cel.Variable("data", cel.DynType),
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
	)...)
	if err != nil {
		return nil, err
	}
	return &celEnvs{entity: entity, derived: derived}, nil
}

// program is one compiled expression.
type program struct {
	prg cel.Program
	// fast, when not nil, evaluates the expression without CEL for the
	// simplest shapes (see fastPath); ok false means "ask CEL".
	fast func(state map[string]string) (v ref.Val, ok bool)
	// fastField, when not nil, evaluates an entity field's expression
	// without CEL for the simplest shapes (see fieldFastPath); ok false
	// means "ask CEL".
	fastField func(vs *vars) (v ref.Val, ok bool)
	kind      exprKind
	where     string    // for errors: view, key and line
	what      string    // the key it is under (when, on.set.total, …), for Check
	line      int       // its line in the view file, for Check
	refs      stateRefs // the fields of state it reads
	// dataPaths are the field paths of data it reads (data.a.b: [a b]), for
	// Check.
	dataPaths [][]string
	// usesData and usesEvent say whether it reads data and event, so that
	// they are built only when needed; eventRefs is what it reads of event.
	usesData, usesEvent bool
	eventRefs           stateRefs
}

// usesIdent reports whether the checked expression a names the variable name.
func usesIdent(a *cel.Ast, name string) bool {
	return len(ast.MatchDescendants(ast.NavigateAST(a.NativeRep()), func(e ast.NavigableExpr) bool {
		return e.Kind() == ast.IdentKind && e.AsIdent() == name
	})) > 0
}

// stateRefs are the fields of the variable state an expression reads: an
// expression gives the same result for two states that agree on them (CEL is
// pure), which lets Apply skip evaluating derived views whose inputs did not
// change. all is set when state is used other than by a constant field name
// (size(state), state[x], passed to a function), and then every field counts.
type stateRefs struct {
	fields []string
	all    bool
}

// add merges o into r.
func (r stateRefs) add(o stateRefs) stateRefs {
	r.all = r.all || o.all
	for _, f := range o.fields {
		if !slices.Contains(r.fields, f) {
			r.fields = append(r.fields, f)
		}
	}
	return r
}

// same reports whether the states a and b (nil: no entity) agree on r.
func (r stateRefs) same(a, b map[string]string) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if r.all {
		return maps.Equal(a, b)
	}
	for _, f := range r.fields {
		x, okA := a[f]
		y, okB := b[f]
		if okA != okB || x != y {
			return false
		}
	}
	return true
}

// stateRefs returns what the derived view v reads of its entity's state.
func (v *view) stateRefs() stateRefs {
	var r stateRefs
	for _, p := range []*program{v.when, v.score, v.key, v.group} {
		if p != nil {
			r = r.add(p.refs)
		}
	}
	for _, gp := range v.parts {
		r = r.add(gp.expr.refs)
	}
	for _, s := range v.sums {
		r = r.add(s.expr.refs)
	}
	return r
}

// identRefs finds the fields of the map variable name the checked
// expression a reads.
func identRefs(a *cel.Ast, name string) stateRefs {
	var r stateRefs
	root := ast.NavigateAST(a.NativeRep())
	for _, id := range ast.MatchDescendants(root, func(e ast.NavigableExpr) bool {
		return e.Kind() == ast.IdentKind && e.AsIdent() == name
	}) {
		parent, ok := id.Parent()
		switch {
		case ok && parent.Kind() == ast.SelectKind && parent.AsSelect().Operand().ID() == id.ID():
			r = r.add(stateRefs{fields: []string{parent.AsSelect().FieldName()}})
		case ok && parent.Kind() == ast.CallKind && parent.AsCall().FunctionName() == operators.Index &&
			len(parent.AsCall().Args()) == 2 && parent.AsCall().Args()[0].ID() == id.ID() &&
			parent.AsCall().Args()[1].Kind() == ast.LiteralKind:
			lit, isStr := parent.AsCall().Args()[1].AsLiteral().(types.String)
			if !isStr {
				r.all = true
				continue
			}
			r = r.add(stateRefs{fields: []string{string(lit)}})
		default:
			r.all = true
		}
	}
	return r
}

func (e *celEnvs) compile(src string, k exprKind) (*program, error) {
	env := e.derived
	if k == exprField {
		env = e.entity
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	out := ast.OutputType()
	want := map[exprKind][]*cel.Type{
		exprBool:   {cel.BoolType},
		exprScore:  {cel.IntType, cel.DoubleType, cel.TimestampType, decimal.Type},
		exprString: {cel.StringType},
		exprTime:   {cel.TimestampType, cel.StringType},
		exprSum:    {decimal.Type, cel.IntType},
	}[k]
	if want != nil && !out.IsExactType(cel.DynType) {
		ok := false
		for _, w := range want {
			if out.IsExactType(w) {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("result is %s; want %s", typeName(out), typeList(want))
		}
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	var ff func(*vars) (ref.Val, bool)
	if k == exprField {
		ff = fieldFastPath(ast)
	}
	return &program{prg: prg, fast: fastPath(ast), fastField: ff, kind: k, refs: identRefs(ast, "state"), usesData: usesIdent(ast, "data"),
		usesEvent: usesIdent(ast, "event"), eventRefs: identRefs(ast, "event"), dataPaths: identPaths(ast, "data")}, nil
}

func typeList(ts []*cel.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = typeName(t)
	}
	return strings.Join(s, " or ")
}

// typeName is t as a view author writes it.
func typeName(t *cel.Type) string {
	if t.IsExactType(cel.TimestampType) {
		return "timestamp"
	}
	return t.String()
}

// vars are the variables of one evaluation. It is a CEL activation, which
// saves building a map and an activation for every evaluation.
type vars struct {
	state map[string]string
	data  any
	// event is the variable event; when nil and hasEv is set, the first
	// ResolveName("event") builds it from ev with the fields evRefs names,
	// so that an evaluation the fast path answers builds no map. ev is held
	// by value: a pointer to the caller's would move it to the heap.
	event  map[string]any
	ev     pipeline.Event
	hasEv  bool
	evRefs stateRefs
}

// ResolveName implements interpreter.Activation.
func (v *vars) ResolveName(name string) (any, bool) {
	switch name {
	case "state":
		return v.state, true
	case "data":
		return v.data, true
	case "event":
		if v.event == nil && v.hasEv {
			v.event = eventVars(v.ev, v.evRefs)
		}
		return v.event, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (v *vars) Parent() interpreter.Activation { return nil }

// fastPath returns an evaluation without CEL for the shapes derived views
// use most, state.f, state.f == "literal" (either side), timestamp(state.f)
// and decimal(state.f), or nil for any other expression. It answers only when the field is there: for an
// absent one it defers to CEL, so errors (no such key) stay CEL's own.
func fastPath(a *cel.Ast) func(map[string]string) (ref.Val, bool) {
	field := func(e ast.Expr) (string, bool) {
		if e.Kind() != ast.SelectKind {
			return "", false
		}
		sel := e.AsSelect()
		op := sel.Operand()
		if sel.IsTestOnly() || op.Kind() != ast.IdentKind || op.AsIdent() != "state" {
			return "", false
		}
		return sel.FieldName(), true
	}
	e := a.NativeRep().Expr()
	if f, ok := field(e); ok {
		return func(state map[string]string) (ref.Val, bool) {
			v, ok := state[f]
			if !ok {
				return nil, false
			}
			return types.String(v), true
		}
	}
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == "timestamp" && !e.AsCall().IsMemberFunction() && len(e.AsCall().Args()) == 1 {
		// timestamp(state.f): the very conversion CEL's overload makes.
		f, ok := field(e.AsCall().Args()[0])
		if !ok {
			return nil
		}
		return func(state map[string]string) (ref.Val, bool) {
			v, ok := state[f]
			if !ok {
				return nil, false
			}
			t := types.String(v).ConvertToType(types.TimestampType)
			if types.IsError(t) {
				return nil, false
			}
			return t, true
		}
	}
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == "decimal" && !e.AsCall().IsMemberFunction() && len(e.AsCall().Args()) == 1 {
		// decimal(state.f): the very parse CEL's overload makes.
		f, ok := field(e.AsCall().Args()[0])
		if !ok {
			return nil
		}
		return func(state map[string]string) (ref.Val, bool) {
			v, ok := state[f]
			if !ok {
				return nil, false
			}
			d, err := decimal.Parse(v)
			if err != nil {
				return nil, false
			}
			return decimal.Val(d), true
		}
	}
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != operators.Equals || len(e.AsCall().Args()) != 2 {
		return nil
	}
	args := e.AsCall().Args()
	for i := range 2 {
		f, ok := field(args[i])
		lit := args[1-i]
		if !ok || lit.Kind() != ast.LiteralKind {
			continue
		}
		want, isStr := lit.AsLiteral().(types.String)
		if !isStr {
			return nil
		}
		return func(state map[string]string) (ref.Val, bool) {
			v, ok := state[f]
			if !ok {
				return nil, false
			}
			return types.Bool(v == string(want)), true
		}
	}
	return nil
}

// fieldFastPath returns an evaluation without CEL for the shapes entity
// fields use most: a literal, data.f and string(data.f) when data.f is a
// string, and event.time; nil for any other expression. Like fastPath it
// answers only with the value CEL gives, and defers to CEL otherwise (data
// not an object, f absent or not a string), so errors stay CEL's own.
func fieldFastPath(a *cel.Ast) func(*vars) (ref.Val, bool) {
	e := a.NativeRep().Expr()
	if e.Kind() == ast.LiteralKind {
		lit := e.AsLiteral()
		return func(*vars) (ref.Val, bool) { return lit, true }
	}
	sel := func(e ast.Expr, ident string) (string, bool) {
		if e.Kind() != ast.SelectKind {
			return "", false
		}
		s := e.AsSelect()
		op := s.Operand()
		if s.IsTestOnly() || op.Kind() != ast.IdentKind || op.AsIdent() != ident {
			return "", false
		}
		return s.FieldName(), true
	}
	if c := e; c.Kind() == ast.CallKind && c.AsCall().FunctionName() == "string" && !c.AsCall().IsMemberFunction() && len(c.AsCall().Args()) == 1 {
		// string(x) of a string is x.
		e = c.AsCall().Args()[0]
		if _, ok := sel(e, "data"); !ok {
			return nil
		}
	}
	if f, ok := sel(e, "data"); ok {
		return func(vs *vars) (ref.Val, bool) {
			m, ok := vs.data.(map[string]any)
			if !ok {
				return nil, false
			}
			s, ok := m[f].(string)
			if !ok {
				return nil, false
			}
			return types.String(s), true
		}
	}
	if f, ok := sel(e, "event"); ok && f == "time" {
		return func(vs *vars) (ref.Val, bool) {
			switch {
			case vs.hasEv:
				return types.Timestamp{Time: vs.ev.Time}, true
			case vs.event != nil:
				if t, ok := vs.event["time"].(time.Time); ok {
					return types.Timestamp{Time: t}, true
				}
			}
			return nil, false
		}
	}
	return nil
}

// evalState runs p, an expression over state alone (a derived view's),
// without building an activation when the fast path answers.
func (p *program) evalState(state map[string]string) (ref.Val, error) {
	if p.fast != nil {
		if v, ok := p.fast(state); ok {
			return v, nil
		}
	}
	return p.eval(&vars{state: state})
}

// eval runs p over vs.
func (p *program) eval(vs *vars) (ref.Val, error) {
	if p.fastField != nil {
		if v, ok := p.fastField(vs); ok {
			return v, nil
		}
	}
	if p.fast != nil && vs.state != nil {
		if v, ok := p.fast(vs.state); ok {
			return v, nil
		}
	}
	v, _, err := p.prg.Eval(vs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.where, err)
	}
	return v, nil
}

// fieldText turns an entity field's value into the text stored in the hash.
// ok is false for null (the field is removed).
func fieldText(v ref.Val) (text string, ok bool, err error) {
	if d, isDec := decimal.FromVal(v); isDec {
		return d.String(), true, nil
	}
	switch x := v.(type) {
	case types.Null:
		return "", false, nil
	case types.String:
		return string(x), true, nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), true, nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), true, nil
	case types.Double:
		return strconv.FormatFloat(float64(x), 'g', -1, 64), true, nil
	case types.Bool:
		return strconv.FormatBool(bool(x)), true, nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), true, nil
	case types.Duration:
		return x.Duration.String(), true, nil
	}
	return "", false, fmt.Errorf("result of type %s: want a scalar or null", v.Type().TypeName())
}

// scoreOf turns an index score into a sorted-set score. A timestamp scores
// as Unix milliseconds, an integer: exact in a double (up to the year
// 287,396), so the stored score reads as it was meant (1709536890475, not
// the 1709536890.4749999 that seconds with a fraction become), and
// milliseconds order an index finely enough; the sub-millisecond rest is
// dropped (rounded towards the past), so two times in one millisecond tie
// and Redis orders them by member.
func scoreOf(v ref.Val) (float64, error) {
	if d, ok := decimal.FromVal(v); ok {
		if !d.IsFinite() {
			return 0, fmt.Errorf("score %s: want a finite number", d)
		}
		return d.Float64(), nil
	}
	switch x := v.(type) {
	case types.Int:
		return float64(x), nil
	case types.Double:
		if math.IsNaN(float64(x)) {
			return 0, fmt.Errorf("score is NaN")
		}
		return float64(x), nil
	case types.Timestamp:
		return float64(x.Time.UnixMilli()), nil
	}
	return 0, fmt.Errorf("score of type %s: want int, double, decimal or timestamp", v.Type().TypeName())
}

// dayOf returns the local date (YYYY-MM-DD) in loc of a timestamp or a
// date-time string; a date-time without an offset is read in loc.
func dayOf(v ref.Val, loc *time.Location) (string, error) {
	var t time.Time
	switch x := v.(type) {
	case types.Timestamp:
		t = x.Time
	case types.String:
		var err error
		if t, err = parseDateTime(string(x), loc); err != nil {
			return "", fmt.Errorf("group: %w", err)
		}
	default:
		return "", fmt.Errorf("group of type %s: want a timestamp or a date-time string", v.Type().TypeName())
	}
	return t.In(loc).Format(time.DateOnly), nil
}

// parseDateTime reads an RFC 3339 time, or a date-time or date without an
// offset in loc.
func parseDateTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, loc); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date-time", s)
}

// scaled returns v (a decimal or an int) times 10^scale as an integer, and an
// error when that is not exact or overflows: sums are kept as scaled integers,
// never as floats.
func scaled(v ref.Val, scale int) (int64, error) {
	var d decimal.Decimal
	switch x := v.(type) {
	case types.Int:
		d = decimal.FromInt(int64(x))
	default:
		var ok bool
		if d, ok = decimal.FromVal(v); !ok {
			return 0, fmt.Errorf("sum of type %s: want decimal or int", v.Type().TypeName())
		}
	}
	if !d.IsFinite() {
		return 0, fmt.Errorf("sum %s: want a finite number", d)
	}
	if d.Scale() <= scale {
		// Exact by construction: no rounding check needed.
		m, err := d.Mul(pow10(scale))
		if err != nil {
			return 0, err
		}
		i, err := m.Int64()
		if err != nil {
			return 0, fmt.Errorf("sum %s at scale %d: %w", d, scale, err)
		}
		return i, nil
	}
	m, err := d.Mul(pow10(scale))
	if err != nil {
		return 0, err
	}
	r, err := m.Round(0)
	if err != nil {
		return 0, err
	}
	if !r.Equal(m) {
		return 0, fmt.Errorf("sum %s has more than %d decimal places", d, scale)
	}
	i, err := r.Int64()
	if err != nil {
		return 0, fmt.Errorf("sum %s at scale %d: %w", d, scale, err)
	}
	return i, nil
}

// pow10s caches the powers of ten sums are scaled by.
var pow10s = func() []decimal.Decimal {
	out := make([]decimal.Decimal, 19)
	for i := range out {
		out[i] = decimal.MustParse("1" + strings.Repeat("0", i))
	}
	return out
}()

func pow10(n int) decimal.Decimal {
	if n >= 0 && n < len(pow10s) {
		return pow10s[n]
	}
	return decimal.MustParse("1" + strings.Repeat("0", n))
}

// jsonValue decodes event data for CEL (jsonx.Decode): integers stay exact,
// other numbers become doubles (as the mapping's upcasters do); decimals are
// strings in event data and are converted with decimal(data.total).
func jsonValue(data []byte) (any, error) { return jsonx.Decode(data) }

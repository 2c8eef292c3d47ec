package cep

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"

	"github.com/cdcflow/cdcflow/internal/jsonx"
	"github.com/cdcflow/cdcflow/internal/strictyaml"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// exprKind says what result an expression must give.
type exprKind uint8

const (
	exprKey  exprKind = iota // string or int
	exprBool                 // condition
	exprSum                  // decimal or int
	exprAny                  // a derived event's data field: anything JSON can hold
)

// envKind says which variables an expression sees.
type envKind uint8

const (
	envEvent        envKind = iota // event, data: key, when of a first step, value
	envStep                        // event, data, matched: when of a later step
	envEmitAbsence                 // key, matched, deadline
	envEmitSequence                // key, matched
	envEmitWindow                  // key, matched, count, sum, window_start, window_end
)

func envFor(k Kind) envKind {
	switch k {
	case KindAbsence:
		return envEmitAbsence
	case KindSequence:
		return envEmitSequence
	}
	return envEmitWindow
}

// eventFields are the fields of event (and of each matched.NAME).
var eventFields = []string{"aggregate_id", "aggregate_type", "data", "id", "position", "time", "type", "version"}

// celEnvs holds one CEL environment per envKind.
type celEnvs struct {
	by map[envKind]*cel.Env
}

func newCELEnvs() (*celEnvs, error) {
	dyn := cel.MapType(cel.StringType, cel.DynType)
	vars := map[envKind][]cel.EnvOption{
		envEvent: {cel.Variable("event", dyn), cel.Variable("data", cel.DynType)},
		envStep: {cel.Variable("event", dyn), cel.Variable("data", cel.DynType),
			cel.Variable("matched", cel.MapType(cel.StringType, dyn))},
		envEmitAbsence: {cel.Variable("key", cel.StringType), cel.Variable("matched", cel.MapType(cel.StringType, dyn)),
			cel.Variable("deadline", cel.TimestampType)},
		envEmitSequence: {cel.Variable("key", cel.StringType), cel.Variable("matched", cel.MapType(cel.StringType, dyn))},
		envEmitWindow: {cel.Variable("key", cel.StringType), cel.Variable("matched", cel.MapType(cel.StringType, dyn)),
			cel.Variable("count", cel.IntType), cel.Variable("sum", decimal.Type),
			cel.Variable("window_start", cel.TimestampType), cel.Variable("window_end", cel.TimestampType)},
	}
	e := &celEnvs{by: map[envKind]*cel.Env{}}
	for k, vs := range vars {
		env, err := cel.NewEnv(append([]cel.EnvOption{pipeline.CELFunctions()}, vs...)...)
		if err != nil {
			return nil, err
		}
		e.by[k] = env
	}
	return e, nil
}

// program is one compiled expression.
type program struct {
	prg   cel.Program
	fast  fastEval // nil: always CEL
	kind  exprKind
	where string // for evaluation errors: rule, key, file and line
	what  string // the key it is under, for Check
	line  int
	src   string    // the expression's text
	out   *cel.Type // the result type the checker found (dyn when it cannot tell)
	ast   *cel.Ast  // the checked expression, for DerivedSchemas
	// dataPaths are the paths it reads of data (data.a.b: [a b]);
	// matchedPaths those of matched (matched.start.data.a: [start data a]).
	dataPaths, matchedPaths [][]string
}

func (e *celEnvs) compile(src string, k exprKind, ek envKind) (*program, error) {
	env := e.by[ek]
	a, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	out := a.OutputType()
	want := map[exprKind][]*cel.Type{
		exprKey:  {cel.StringType, cel.IntType, cel.UintType},
		exprBool: {cel.BoolType},
		exprSum:  {decimal.Type, cel.IntType},
	}[k]
	if want != nil && !out.IsExactType(cel.DynType) {
		ok := false
		for _, w := range want {
			ok = ok || out.IsExactType(w)
		}
		if !ok {
			names := make([]string, len(want))
			for i, w := range want {
				names[i] = w.String()
			}
			return nil, fmt.Errorf("result is %s; want %s", out, strings.Join(names, " or "))
		}
	}
	for _, path := range identPaths(a, "event") {
		if !containsStr(eventFields, path[0]) {
			return nil, fmt.Errorf("event.%s: no such field (event has %s)%s", path[0], strings.Join(eventFields, ", "),
				strictyaml.DidYouMean(path[0], eventFields))
		}
	}
	prg, err := env.Program(a, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	p := &program{prg: prg, fast: fastPath(a), kind: k, src: src, out: out, ast: a, dataPaths: identPaths(a, "data")}
	for _, path := range identPaths(a, "matched") {
		if len(path) > 1 && !containsStr(eventFields, path[1]) {
			return nil, fmt.Errorf("matched.%s.%s: no such field (a match has %s)%s", path[0], path[1],
				strings.Join(eventFields, ", "), strictyaml.DidYouMean(path[1], eventFields))
		}
		p.matchedPaths = append(p.matchedPaths, path)
	}
	return p, nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// identPaths returns the constant field paths the checked expression a
// reads of the variable name: x.a.b and x["a"].b give [a b]; has(x.a)
// gives [a]. A use by a computed index stops the path there; the bare
// variable gives no path.
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
					break
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

// vars are the variables of one evaluation, as a CEL activation. What
// costs (the event's map, matched's maps) is built only when CEL asks for
// it: the fast paths (fastPath) read the event and the matches directly.
type vars struct {
	in    *inputEvent // event, data; nil in an emit
	key   string
	names []string   // matched.NAME: the names ...
	ms    []match    // ... and their matches
	mdata []lazyData // the matches' data
	// want are, per match name, the top-level data members the
	// expressions read (dataMembers), read in one pass.
	want map[string][]string
	// rawCheck: derive returns check's error as it is, not as an
	// evaluation error.
	rawCheck bool
	matched  map[string]any
	built    bool // matched is built from names, ms and mdata
	// deadline, count, sum, window_start and window_end of an emit.
	deadline time.Time
	count    int64
	sum      decimal.Decimal
	winStart time.Time
	winEnd   time.Time
}

// setMatched makes names[i] see ms[i]. Their data is checked and decoded
// only as far as the evaluation reads it; check, once it is done, returns
// the error building matched would have given (a match's data that is not
// JSON), whatever was read.
func (v *vars) setMatched(names []string, ms []match) {
	v.names, v.ms, v.matched, v.built = names, ms, nil, false
	clear(v.mdata)
	v.mdata = v.mdata[:0]
	for range ms {
		v.mdata = append(v.mdata, lazyData{})
	}
}

// check returns the error of the first match whose data dataValue cannot
// decode, checking what the evaluation did not read.
func (v *vars) check() error {
	for i := range v.mdata {
		if err := v.mdata[i].check(v.ms[i].data); err != nil {
			return err
		}
	}
	return nil
}

// lazyData is a match's event data, checked and decoded only as far as it
// is read.
type lazyData struct {
	state   dataState
	v       any   // dataParsed: the whole data
	err     error // dataFailed: dataValue's error
	members []jsonx.Member
}

type dataState uint8

const (
	dataUnchecked dataState = iota
	dataChecked             // jsonx.Valid takes it
	dataParsed              // v holds it, decoded
	dataFailed              // err says why it cannot be decoded
)

// check returns dataValue's error for data (nil when it decodes).
func (d *lazyData) check(data string) error {
	if d.state == dataUnchecked {
		if jsonx.Valid(data) {
			d.state = dataChecked
		} else {
			d.parse(data)
		}
	}
	return d.err
}

func (d *lazyData) parse(data string) {
	d.v, d.err = dataValueString(data)
	d.state = dataParsed
	if d.err != nil {
		d.state = dataFailed
	}
}

// value returns the whole decoded data (nil when it cannot be decoded:
// check says why).
func (d *lazyData) value(data string) any {
	if d.state != dataParsed && d.state != dataFailed {
		d.parse(data)
	}
	return d.v
}

// walk returns the scalar at path (walkData). Unless the whole data is
// decoded already, it reads the top-level members want (those the
// expressions read) in one pass the first time, and any other member on
// its own.
func (d *lazyData) walk(data string, want, path []string) (ref.Val, bool) {
	switch d.state {
	case dataParsed:
		return walkData(d.v, path)
	case dataFailed:
		return nil, false
	}
	if d.members == nil && len(want) > 0 {
		ms := make([]jsonx.Member, len(want))
		for i, w := range want {
			ms[i].Name = w
		}
		if !jsonx.Members(data, ms) {
			d.parse(data)
			return d.walk(data, nil, path)
		}
		d.state, d.members = dataChecked, ms
	}
	for i := range d.members {
		if m := &d.members[i]; m.Name == path[0] {
			if !m.Found {
				return nil, false
			}
			return walkData(m.Value, path[1:])
		}
	}
	v, found, ok := jsonx.Field(data, path[0])
	if !ok {
		d.parse(data)
		return d.walk(data, nil, path)
	}
	d.state = dataChecked
	if !found {
		return nil, false
	}
	return walkData(v, path[1:])
}

// matchIndex returns the index of matched.name, -1 when it is not matched.
func (v *vars) matchIndex(name string) int {
	for i, n := range v.names {
		if n == name && i < len(v.mdata) {
			return i
		}
	}
	return -1
}

// matchAttr returns matched.NAME.path of the i-th match when it is a
// scalar (fastPath).
func (v *vars) matchAttr(i int, path []string) (ref.Val, bool) {
	m := &v.ms[i]
	if path[0] == "data" {
		if len(path) == 1 {
			return nil, false
		}
		return v.mdata[i].walk(m.data, v.want[v.names[i]], path[1:])
	}
	if len(path) != 1 {
		return nil, false
	}
	switch path[0] {
	case "type":
		return types.String(m.h.typ), true
	case "version":
		return types.Int(m.h.version), true
	case "aggregate_type":
		return types.String(m.h.aggType), true
	case "aggregate_id":
		return types.String(m.aggID(v.key)), true
	case "id":
		return types.String(m.idText()), true
	case "position":
		return types.String(string(m.pos())), true
	case "time":
		return types.Timestamp{Time: m.time()}, true
	}
	return nil, false
}

// matchedMap returns matched as CEL reads it, built on first use.
func (v *vars) matchedMap() map[string]any {
	if !v.built && v.names != nil {
		v.built = true
		v.matched = make(map[string]any, len(v.names))
		for i := range v.mdata {
			v.matched[v.names[i]] = v.ms[i].celWith(v.key, v.mdata[i].value(v.ms[i].data))
		}
	}
	return v.matched
}

// ResolveName implements interpreter.Activation.
func (v *vars) ResolveName(name string) (any, bool) {
	switch name {
	case "event":
		if v.in == nil {
			return nil, false
		}
		return v.in.eventMap(), true
	case "data":
		if v.in == nil {
			return nil, false
		}
		d, _ := v.in.data()
		return d, true
	case "key":
		return v.key, true
	case "matched":
		return v.matchedMap(), true
	case "deadline":
		return v.deadline, true
	case "count":
		return v.count, true
	case "sum":
		return decimal.Val(v.sum), true
	case "window_start":
		return v.winStart, true
	case "window_end":
		return v.winEnd, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (v *vars) Parent() interpreter.Activation { return nil }

func (p *program) eval(vs *vars) (ref.Val, error) {
	if p.fast != nil {
		if v, ok := p.fast(vs); ok {
			return v, nil
		}
	}
	out, _, err := p.prg.Eval(vs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.where, err)
	}
	return out, nil
}

// evalBool runs a condition.
func (p *program) evalBool(vs *vars) (bool, error) {
	v, err := p.eval(vs)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%s: result of type %s; want bool", p.where, v.Type().TypeName())
	}
	return bool(b), nil
}

// keyText turns a key's value into the derived aggregate id.
func keyText(v ref.Val) (string, error) {
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case types.Null:
		return "", nil
	}
	return "", fmt.Errorf("key of type %s: want string or int", v.Type().TypeName())
}

// sumValue turns a sum's value into a decimal.
func sumValue(v ref.Val) (decimal.Decimal, error) {
	if d, ok := decimal.FromVal(v); ok {
		if !d.IsFinite() {
			return decimal.Decimal{}, fmt.Errorf("value %s: want a finite number", d)
		}
		return d, nil
	}
	if i, ok := v.(types.Int); ok {
		return decimal.FromInt(int64(i)), nil
	}
	return decimal.Decimal{}, fmt.Errorf("value of type %s: want decimal or int", v.Type().TypeName())
}

// toJSON turns a CEL value into a value encoding/json writes
// deterministically: decimals as strings (exact), timestamps as RFC 3339
// UTC, durations as Go writes them, bytes as base64.
func toJSON(v ref.Val) (any, error) {
	if d, ok := decimal.FromVal(v); ok {
		return d.String(), nil
	}
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return uint64(x), nil
	case types.Double:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(f), nil
		}
		return f, nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return []byte(x), nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return x.Duration.String(), nil
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key of type %s: want string", k.Type().TypeName())
			}
			e, err := toJSON(x.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	case traits.Lister:
		var out []any
		for it := x.Iterator(); it.HasNext() == types.True; {
			e, err := toJSON(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case *types.Err:
		return nil, x
	}
	return nil, fmt.Errorf("value of type %s cannot be event data", v.Type().TypeName())
}

// dataValue decodes event data for CEL (jsonx.Decode): integers stay
// exact, other numbers become doubles; decimals are strings in event data,
// read with decimal(data.total).
func dataValue(data []byte) (any, error) {
	v, err := jsonx.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode event data: %w", err)
	}
	return v, nil
}

// dataValueString is dataValue of data held as a string.
func dataValueString(data string) (any, error) {
	v, err := jsonx.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode event data: %w", err)
	}
	return v, nil
}

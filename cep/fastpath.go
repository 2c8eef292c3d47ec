package cep

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// fastEval evaluates an expression without CEL; ok false means "ask CEL",
// which then gives the result or the error itself.
type fastEval func(vs *vars) (v ref.Val, ok bool)

// fastPath returns an evaluation without CEL for the shapes rules use most,
// or nil for any other expression:
//
//   - a variable: key, deadline, count, sum, window_start, window_end;
//   - a field path: data.f.g, event.attr, event.data.f,
//     matched.NAME.attr, matched.NAME.data.f (attr one of eventFields but
//     data);
//   - such a path == "literal" (either side).
//
// It answers only when CEL would give a value of a scalar type (string,
// int, double, bool, null, timestamp, decimal) the same way: a path that
// is not there, a NAME that is not matched or a value of another type
// defers to CEL, so errors and conversions stay CEL's own. The table test
// TestFastPathEqualsCEL compares both on every shape.
func fastPath(a *cel.Ast) fastEval {
	e := a.NativeRep().Expr()
	if f := fastOperand(e); f != nil {
		return f
	}
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != operators.Equals || len(e.AsCall().Args()) != 2 {
		return nil
	}
	args := e.AsCall().Args()
	for i := range 2 {
		f, lit := fastOperand(args[i]), args[1-i]
		if f == nil || lit.Kind() != ast.LiteralKind {
			continue
		}
		want, isStr := lit.AsLiteral().(types.String)
		if !isStr {
			return nil
		}
		return func(vs *vars) (ref.Val, bool) {
			v, ok := f(vs)
			if !ok {
				return nil, false
			}
			s, isStr := v.(types.String)
			if !isStr {
				return nil, false
			}
			return types.Bool(s == want), true
		}
	}
	return nil
}

// fastOperand is fastPath for a variable or a field path.
func fastOperand(e ast.Expr) fastEval {
	var path []string
	for e.Kind() == ast.SelectKind {
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return nil
		}
		path = append(path, sel.FieldName())
		e = sel.Operand()
	}
	if e.Kind() != ast.IdentKind {
		return nil
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	switch root := e.AsIdent(); root {
	case "key", "deadline", "count", "sum", "window_start", "window_end":
		if len(path) > 0 {
			return nil
		}
		return func(vs *vars) (ref.Val, bool) { return vs.scalar(root), true }
	case "data":
		if len(path) == 0 {
			return nil
		}
		return func(vs *vars) (ref.Val, bool) {
			if vs.in == nil {
				return nil, false
			}
			return vs.in.field(path)
		}
	case "event":
		if len(path) == 0 || path[0] == "data" && len(path) == 1 {
			return nil
		}
		return func(vs *vars) (ref.Val, bool) {
			if vs.in == nil {
				return nil, false
			}
			return vs.in.attr(path)
		}
	case "matched":
		if len(path) < 2 || path[1] == "data" && len(path) == 2 {
			return nil
		}
		name := path[0]
		return func(vs *vars) (ref.Val, bool) {
			i := vs.matchIndex(name)
			if i < 0 {
				return nil, false
			}
			return vs.matchAttr(i, path[1:])
		}
	}
	return nil
}

// walkData follows path through decoded data (dataValue) and returns the
// value at its end as CEL adapts it, when it is a scalar.
func walkData(d any, path []string) (ref.Val, bool) {
	for _, f := range path {
		m, isMap := d.(map[string]any)
		if !isMap {
			return nil, false
		}
		if d, isMap = m[f]; !isMap {
			return nil, false
		}
	}
	return scalarVal(d)
}

// scalarVal is types.DefaultTypeAdapter.NativeToValue for the scalars
// dataValue decodes; ok is false for objects and arrays.
func scalarVal(d any) (ref.Val, bool) {
	switch x := d.(type) {
	case string:
		return types.String(x), true
	case int64:
		return types.Int(x), true
	case float64:
		return types.Double(x), true
	case bool:
		return types.Bool(x), true
	case nil:
		return types.NullValue, true
	}
	return nil, false
}

// scalar returns the variable name (key, deadline, count, sum,
// window_start, window_end) as CEL sees it.
func (v *vars) scalar(name string) ref.Val {
	switch name {
	case "key":
		return types.String(v.key)
	case "deadline":
		return types.Timestamp{Time: v.deadline}
	case "count":
		return types.Int(v.count)
	case "sum":
		return decimal.Val(v.sum)
	case "window_start":
		return types.Timestamp{Time: v.winStart}
	}
	return types.Timestamp{Time: v.winEnd}
}

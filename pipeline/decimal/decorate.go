package decimal

import (
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// binaryOps are the standard-library semantics of the operators decorate takes
// over, extended to a decimal on either side.
var binaryOps = map[string]func(l, r ref.Val) ref.Val{
	operators.Add:           func(l, r ref.Val) ref.Val { return arithmetic(l, r, traits.AdderType, addVals) },
	operators.Subtract:      func(l, r ref.Val) ref.Val { return arithmetic(l, r, traits.SubtractorType, subVals) },
	operators.Multiply:      func(l, r ref.Val) ref.Val { return arithmetic(l, r, traits.MultiplierType, mulVals) },
	operators.Divide:        func(l, r ref.Val) ref.Val { return arithmetic(l, r, traits.DividerType, divVals) },
	operators.Less:          func(l, r ref.Val) ref.Val { return relation(l, r, func(c types.Int) bool { return c < 0 }) },
	operators.LessEquals:    func(l, r ref.Val) ref.Val { return relation(l, r, func(c types.Int) bool { return c <= 0 }) },
	operators.Greater:       func(l, r ref.Val) ref.Val { return relation(l, r, func(c types.Int) bool { return c > 0 }) },
	operators.GreaterEquals: func(l, r ref.Val) ref.Val { return relation(l, r, func(c types.Int) bool { return c >= 0 }) },
	operators.Equals:        equal,
	operators.NotEquals: func(l, r ref.Val) ref.Val {
		// Unlike the standard library, which turns any non-true equality
		// into true, an error (decimal != double) stays an error.
		eq := equal(l, r)
		if b, ok := eq.(types.Bool); ok {
			return !b
		}
		return eq
	},
}

func addVals(l, r ref.Val) ref.Val { return l.(traits.Adder).Add(r) }
func subVals(l, r ref.Val) ref.Val { return l.(traits.Subtractor).Subtract(r) }
func mulVals(l, r ref.Val) ref.Val { return l.(traits.Multiplier).Multiply(r) }
func divVals(l, r ref.Val) ref.Val { return l.(traits.Divider).Divide(r) }

// decorate replaces the calls of binary operators that may see a decimal: the
// calls the checker resolved to one of this package's overloads, those it left
// open (dyn operands), and every equality, whose one overload covers all types.
// Calls resolved to another type's overload are left alone.
func decorate(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok || len(call.Args()) != 2 {
		return i, nil
	}
	fn := call.Function()
	op, ok := binaryOps[fn]
	if !ok {
		return i, nil
	}
	oid := call.OverloadID()
	if fn != operators.Equals && fn != operators.NotEquals && oid != "" && oid != fn && !ownOverloads[oid] {
		return i, nil
	}
	args := call.Args()
	return &binaryCall{id: call.ID(), fn: fn, overload: oid, lhs: args[0], rhs: args[1], op: op}, nil
}

// binaryCall evaluates a decorated binary operator. It is strict, like the
// calls it replaces: an error operand is the result, unknown operands merge.
type binaryCall struct {
	id       int64
	fn       string
	overload string
	lhs, rhs interpreter.InterpretableV2
	op       func(l, r ref.Val) ref.Val
}

var _ interpreter.InterpretableCall = (*binaryCall)(nil)

// ID implements interpreter.Interpretable.
func (c *binaryCall) ID() int64 { return c.id }

// Eval implements interpreter.Interpretable.
func (c *binaryCall) Eval(a interpreter.Activation) ref.Val { return c.Exec(interpreter.AsFrame(a)) }

// Exec implements interpreter.InterpretableV2.
func (c *binaryCall) Exec(f *interpreter.ExecutionFrame) ref.Val {
	l := c.lhs.Exec(f)
	if types.IsError(l) {
		return l
	}
	r := c.rhs.Exec(f)
	if types.IsError(r) {
		return r
	}
	unk, _ := types.MaybeMergeUnknowns(l, nil)
	unk, _ = types.MaybeMergeUnknowns(r, unk)
	if unk != nil {
		return unk
	}
	return types.LabelErrNode(c.id, c.op(l, r))
}

// Function implements interpreter.InterpretableCall.
func (c *binaryCall) Function() string { return c.fn }

// OverloadID implements interpreter.InterpretableCall.
func (c *binaryCall) OverloadID() string { return c.overload }

// Args implements interpreter.InterpretableCall.
func (c *binaryCall) Args() []interpreter.InterpretableV2 {
	return []interpreter.InterpretableV2{c.lhs, c.rhs}
}

// arithmetic applies an arithmetic operator: as a decimal operation when either
// side is a decimal (the other being converted exactly), through the left
// operand's trait otherwise, as the standard library does.
func arithmetic(l, r ref.Val, trait int, op func(l, r ref.Val) ref.Val) ref.Val {
	if _, ok := r.(value); ok {
		if ld, ok := toDecimal(l); ok {
			l = value{ld}
		}
	}
	if l.Type().HasTrait(trait) {
		return op(l, r)
	}
	return types.NoSuchOverloadErr()
}

// relation applies a relational operator, turning the three-way comparison
// into a bool with holds.
func relation(l, r ref.Val, holds func(types.Int) bool) ref.Val {
	if _, ok := r.(value); ok {
		if ld, ok := toDecimal(l); ok {
			l = value{ld}
		}
	}
	if !l.Type().HasTrait(traits.ComparerType) {
		return types.NoSuchOverloadErr()
	}
	c := l.(traits.Comparer).Compare(r)
	if i, ok := c.(types.Int); ok {
		return types.Bool(holds(i))
	}
	return c
}

// equal is CEL's equality, made symmetric for a decimal on the right.
func equal(l, r ref.Val) ref.Val {
	if _, ok := r.(value); ok {
		if _, ok := l.(value); !ok {
			l, r = r, l
		}
	}
	return types.Equal(l, r)
}

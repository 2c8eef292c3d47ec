package decimal

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cdcflow/cdcflow/capture"
)

// Type is the CEL type of decimals, named "decimal".
var Type = types.NewOpaqueType("decimal").WithTraits(
	traits.AdderType | traits.SubtractorType | traits.MultiplierType |
		traits.DividerType | traits.ComparerType | traits.NegatorType)

// value is a Decimal as a CEL value: it implements ref.Val and the traits of
// arithmetic, comparison and negation. Its Value is the Decimal.
type value struct{ d Decimal }

var (
	_ ref.Val           = value{}
	_ traits.Adder      = value{}
	_ traits.Subtractor = value{}
	_ traits.Multiplier = value{}
	_ traits.Divider    = value{}
	_ traits.Comparer   = value{}
	_ traits.Negater    = value{}
)

// Val returns d as a CEL value of type decimal.
func Val(d Decimal) ref.Val { return value{d} }

// FromVal returns the Decimal held by a CEL value of type decimal, and false
// for any other value.
func FromVal(v ref.Val) (Decimal, bool) {
	x, ok := v.(value)
	return x.d, ok
}

var (
	decimalGoType = reflect.TypeFor[Decimal]()
	jsonValueType = reflect.TypeFor[*structpb.Value]()
)

// ConvertToNative implements ref.Val. A decimal converts to Decimal (or any
// interface Decimal implements, such as json.Marshaler), to string (its String
// form) and to a JSON string value; never to a float, which would be inexact.
func (v value) ConvertToNative(typeDesc reflect.Type) (any, error) {
	switch {
	case typeDesc == jsonValueType:
		return structpb.NewStringValue(v.d.String()), nil
	case decimalGoType.AssignableTo(typeDesc):
		return v.d, nil
	case typeDesc.Kind() == reflect.String:
		return reflect.ValueOf(v.d.String()).Convert(typeDesc).Interface(), nil
	}
	return nil, fmt.Errorf("type conversion error from decimal to %v", typeDesc)
}

// ConvertToType implements ref.Val: a decimal converts to string, int
// (truncated toward zero; an error for NaN, the infinities and values beyond
// int64) and double (the nearest one).
func (v value) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case Type:
		return v
	case types.StringType:
		return types.String(v.d.String())
	case types.IntType:
		i, err := v.d.Int64()
		if err != nil {
			return types.WrapErr(err)
		}
		return types.Int(i)
	case types.DoubleType:
		return types.Double(v.d.Float64())
	case types.TypeType:
		return Type
	}
	return types.NewErr("type conversion error from decimal to %s", t.TypeName())
}

// Equal implements ref.Val: a decimal equals a decimal, an int or a uint of the
// same numeric value (scale ignored; NaN equals NaN). Comparing with a double is
// an error, since a double rarely holds the decimal it was written as; any
// other type is simply not equal.
func (v value) Equal(other ref.Val) ref.Val {
	o, ok := toDecimal(other)
	if !ok {
		if other.Type() == types.DoubleType {
			return types.NewErr("no such overload: decimal == double (use decimal(\"...\") for exact values)")
		}
		return types.False
	}
	return types.Bool(v.d.Cmp(o) == 0)
}

// Type implements ref.Val.
func (v value) Type() ref.Type { return Type }

// Value implements ref.Val: it returns the Decimal.
func (v value) Value() any { return v.d }

// Add implements traits.Adder for decimal and int or uint operands.
func (v value) Add(other ref.Val) ref.Val {
	return arith(v, other, Decimal.Add)
}

// Subtract implements traits.Subtractor.
func (v value) Subtract(other ref.Val) ref.Val {
	return arith(v, other, Decimal.Sub)
}

// Multiply implements traits.Multiplier.
func (v value) Multiply(other ref.Val) ref.Val {
	return arith(v, other, Decimal.Mul)
}

// Divide implements traits.Divider (see Decimal.Quo for the rounding).
func (v value) Divide(other ref.Val) ref.Val {
	return arith(v, other, Decimal.Quo)
}

// Compare implements traits.Comparer against decimal, int and uint values.
func (v value) Compare(other ref.Val) ref.Val {
	o, ok := toDecimal(other)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Int(v.d.Cmp(o))
}

// Negate implements traits.Negater.
func (v value) Negate() ref.Val { return value{v.d.Neg()} }

// arith applies op to v and other converted to a decimal.
func arith(v value, other ref.Val, op func(Decimal, Decimal) (Decimal, error)) ref.Val {
	o, ok := toDecimal(other)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	r, err := op(v.d, o)
	if err != nil {
		return types.WrapErr(err)
	}
	return value{r}
}

// toDecimal converts the CEL values a decimal mixes with exactly: decimals,
// ints and uints.
func toDecimal(v ref.Val) (Decimal, bool) {
	switch x := v.(type) {
	case value:
		return x.d, true
	case types.Int:
		return FromInt(int64(x)), true
	case types.Uint:
		return fromUint(uint64(x)), true
	}
	return Decimal{}, false
}

// NewAdapter returns a types.Adapter that turns Decimal, *Decimal (nil is
// null) and capture.Numeric Go values into CEL decimals, also inside []any and
// map[string]any values, and hands every other value to base. Library installs it around the environment's adapter, so that
// decimals and numerics inside activation maps such as row become CEL decimals;
// a capture.Numeric that is not valid numeric text becomes an error value.
func NewAdapter(base types.Adapter) types.Adapter { return adapter{base} }

type adapter struct{ base types.Adapter }

// NativeToValue implements types.Adapter.
func (a adapter) NativeToValue(v any) ref.Val {
	switch x := v.(type) {
	case Decimal:
		return value{x}
	case *Decimal:
		if x == nil {
			return types.NullValue
		}
		return value{*x}
	case capture.Numeric:
		d, err := Parse(string(x))
		if err != nil {
			return types.WrapErr(err)
		}
		return value{d}
	case []any:
		// The base adapter would adapt the elements with itself, missing decimals.
		return types.NewDynamicList(a, x)
	case map[string]any:
		return types.NewStringInterfaceMap(a, x)
	}
	return a.base.NativeToValue(v)
}

// Library returns the CEL environment option that adds decimals:
//
//   - the type decimal and the conversions decimal(string) (PostgreSQL numeric
//     text, see Parse), decimal(int), decimal(decimal), string(decimal),
//     int(decimal) (truncated toward zero; NaN, infinities and overflow are
//     errors) and double(decimal) (nearest double: the one inexact step, taken
//     only when asked);
//   - exact + - * between decimals and between a decimal and an int on either
//     side ("decimal('1e30') + 1"), / rounded half to even to 34 significant
//     digits, unary minus; division by zero, and results outside PostgreSQL's
//     numeric range, are evaluation errors;
//   - < <= > >= between decimals and between a decimal and an int on either
//     side ("row.total > 100", "100 < row.total"), numerically (1.0 == 1.00),
//     with PostgreSQL's NaN: NaN == NaN, and NaN is greater than everything
//     else; == and != likewise, but CEL's checker declares them for operands of
//     one type only, so a decimal known to the checker compares with an int
//     only through decimal(n) ("d == decimal(1)"), while a dyn value such as
//     row.total compares directly ("row.total == 100");
//   - d.scale() (digits after the decimal point) and round(d, places) (halves
//     away from zero, as PostgreSQL's round).
//
// A decimal never mixes with a double: "d > 1.5" fails to compile when d is
// known to be a decimal, and "row.total > 1.5" fails at evaluation when
// row.total is dyn (== with a double is an error too, not false), because the
// double written 1.5 is rarely exactly the decimal meant; write decimal("1.5").
// Membership ("row.total in [1, 2]") uses the list elements' equality and so
// finds a decimal only among decimals.
//
// The library also wraps the environment's type adapter with NewAdapter (so an
// option given later that replaces the adapter drops decimal conversion), and
// adds a program decorator that dispatches the operators above when the
// decimal is the right operand or when the checker left the overload open
// (dyn operands); operators on other types behave exactly as in the standard
// library.
func Library() cel.EnvOption { return cel.Lib(library{}) }

type library struct{}

// LibraryName implements cel.SingletonLibrary, so that including the library
// twice is harmless.
func (library) LibraryName() string { return "cdcflow.decimal" }

// Operator overload ids, by operator: decimal with decimal, decimal with int,
// int with decimal. The overloads are declared for the checker only (see
// CompileOptions); decorate evaluates them.
var (
	arithmeticOps = []opNames{
		{operators.Add, "add"}, {operators.Subtract, "subtract"},
		{operators.Multiply, "multiply"}, {operators.Divide, "divide"},
	}
	relationOps = []opNames{
		{operators.Less, "less"}, {operators.LessEquals, "less_equals"},
		{operators.Greater, "greater"}, {operators.GreaterEquals, "greater_equals"},
	}
	ownOverloads = func() map[string]bool {
		m := map[string]bool{}
		for _, o := range append(append([]opNames{}, arithmeticOps...), relationOps...) {
			for _, id := range o.ids() {
				m[id] = true
			}
		}
		return m
	}()
)

type opNames struct{ op, name string }

func (o opNames) ids() [3]string {
	return [3]string{o.name + "_decimal_decimal", o.name + "_decimal_int64", o.name + "_int64_decimal"}
}

// CompileOptions implements cel.Library.
func (library) CompileOptions() []cel.EnvOption {
	opts := []cel.EnvOption{
		func(e *cel.Env) (*cel.Env, error) {
			return cel.CustomTypeAdapter(NewAdapter(e.CELTypeAdapter()))(e)
		},
		cel.Function("decimal",
			cel.Overload("string_to_decimal", []*cel.Type{cel.StringType}, Type,
				cel.UnaryBinding(func(s ref.Val) ref.Val {
					d, err := Parse(string(s.(types.String)))
					if err != nil {
						return types.WrapErr(err)
					}
					return value{d}
				})),
			cel.Overload("int_to_decimal", []*cel.Type{cel.IntType}, Type,
				cel.UnaryBinding(func(i ref.Val) ref.Val { return value{FromInt(int64(i.(types.Int)))} })),
			cel.Overload("decimal_to_decimal", []*cel.Type{Type}, Type,
				cel.UnaryBinding(func(d ref.Val) ref.Val { return d }))),
		cel.Function("string",
			cel.Overload("decimal_to_string", []*cel.Type{Type}, cel.StringType,
				cel.UnaryBinding(func(d ref.Val) ref.Val { return d.ConvertToType(types.StringType) }))),
		cel.Function("int",
			cel.Overload("decimal_to_int", []*cel.Type{Type}, cel.IntType,
				cel.UnaryBinding(func(d ref.Val) ref.Val { return d.ConvertToType(types.IntType) }))),
		cel.Function("double",
			cel.Overload("decimal_to_double", []*cel.Type{Type}, cel.DoubleType,
				cel.UnaryBinding(func(d ref.Val) ref.Val { return d.ConvertToType(types.DoubleType) }))),
		cel.Function("scale",
			cel.MemberOverload("decimal_scale", []*cel.Type{Type}, cel.IntType,
				cel.UnaryBinding(func(d ref.Val) ref.Val { return types.Int(d.(value).d.Scale()) }))),
		cel.Function("round",
			cel.Overload("round_decimal_int", []*cel.Type{Type, cel.IntType}, Type,
				cel.BinaryBinding(func(d, places ref.Val) ref.Val {
					r, err := d.(value).d.Round(int(places.(types.Int)))
					if err != nil {
						return types.WrapErr(err)
					}
					return value{r}
				}))),
		// The standard library binds unary minus once for every type, through
		// traits.Negater, so this declaration only informs the checker.
		cel.Function(operators.Negate, cel.Overload("negate_decimal", []*cel.Type{Type}, Type)),
	}
	// The standard library binds these operators once for all types (through
	// traits) and forbids per-overload bindings next to that, so these overloads
	// only inform the checker; the decorator in ProgramOptions evaluates them.
	for _, o := range arithmeticOps {
		ids := o.ids()
		opts = append(opts, cel.Function(o.op,
			cel.Overload(ids[0], []*cel.Type{Type, Type}, Type),
			cel.Overload(ids[1], []*cel.Type{Type, cel.IntType}, Type),
			cel.Overload(ids[2], []*cel.Type{cel.IntType, Type}, Type)))
	}
	for _, o := range relationOps {
		ids := o.ids()
		opts = append(opts, cel.Function(o.op,
			cel.Overload(ids[0], []*cel.Type{Type, Type}, cel.BoolType),
			cel.Overload(ids[1], []*cel.Type{Type, cel.IntType}, cel.BoolType),
			cel.Overload(ids[2], []*cel.Type{cel.IntType, Type}, cel.BoolType)))
	}
	return opts
}

// ProgramOptions implements cel.Library.
func (library) ProgramOptions() []cel.ProgramOption {
	return []cel.ProgramOption{cel.CustomDecoratorV2(decorate)}
}

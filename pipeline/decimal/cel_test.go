package decimal_test

import (
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// newEnv returns a CEL environment with the decimal library and the variables
// the mapping puts in scope: row as a map of dyn, and typed d, n and i.
func newEnv(t testing.TB) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(
		decimal.Library(),
		cel.Variable("row", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("d", decimal.Type),
		cel.Variable("i", cel.IntType),
	)
	if err != nil {
		t.Fatalf("NewEnv: %v", err)
	}
	return env
}

// compile compiles expr, failing the test on a compile error.
func compile(t testing.TB, env *cel.Env, expr string, opts ...cel.ProgramOption) cel.Program {
	t.Helper()
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		t.Fatalf("Compile(%q): %v", expr, iss.Err())
	}
	prg, err := env.Program(ast, opts...)
	if err != nil {
		t.Fatalf("Program(%q): %v", expr, err)
	}
	return prg
}

// text is an expected CEL string result.
type text string

var vars = map[string]any{
	"row": map[string]any{
		"total":   capture.Numeric("1234.5600"),
		"price":   decimal.MustParse("0.10"),
		"qty":     int64(3),
		"nan":     capture.Numeric("NaN"),
		"inf":     capture.Numeric("Infinity"),
		"bad":     capture.Numeric("12x"),
		"ratio":   1.5,
		"name":    "x",
		"nothing": nil,
		"amounts": []any{capture.Numeric("1.5"), nil, decimal.MustParse("-2")},
		"nested":  map[string]any{"price": capture.Numeric("9.99")},
	},
	"d": decimal.MustParse("2.50"),
	"i": int64(7),
}

func TestCELExpressions(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		expr string
		want any // bool, int64, float64, text (a CEL string) or string (a decimal's String)
	}{
		// The two cases.
		{`decimal("0.1") + decimal("0.2") == decimal("0.3")`, true},
		{`decimal("1e30") + 1 != decimal("1e30")`, true},
		{`decimal("1e30") + 1`, "1000000000000000000000000000001"},
		// Exact arithmetic keeps the scale.
		{`decimal("1.10") + decimal("2.205")`, "3.305"},
		{`decimal("1.10") - decimal("2.205")`, "-1.105"},
		{`decimal("1.10") * decimal("2.205")`, "2.42550"},
		{`decimal("1.10") * 3`, "3.30"},
		{`3 * decimal("1.10")`, "3.30"},
		{`1 - decimal("0.01")`, "0.99"},
		{`-decimal("2.5")`, "-2.5"},
		{`-decimal("0")`, "0"},
		{`d + i`, "9.50"},
		{`i - d`, "4.50"},
		// Division: 34 significant digits, half to even; exact quotients stay short.
		{`decimal("10") / decimal("4")`, "2.5"},
		{`decimal("1.00") / 4`, "0.25"},
		{`decimal("6.0") / 2`, "3.0"},
		{`decimal("100") / decimal("0.5")`, "200"},
		{`decimal("0.000") / 7`, "0.000"},
		{`decimal(1) / 3`, "0.3333333333333333333333333333333333"},
		{`decimal(2) / 3`, "0.6666666666666666666666666666666667"},
		{`20 / decimal("8")`, "2.5"},
		{`decimal("1") / decimal("0.0000000000000000000000000000000008")`, "1250000000000000000000000000000000"},
		// Comparisons, with int literals on either side, typed and dyn.
		{`row.total > 100`, true},
		{`100 < row.total`, true},
		{`row.total >= 1234`, true},
		{`1235 <= row.total`, false},
		{`row.total < 1234`, false},
		{`d > 2`, true},
		{`2 > d`, false},
		{`3 >= d`, true},
		{`d <= decimal("2.5")`, true},
		{`d < i`, true},
		{`i < d`, false},
		{`row.total == decimal("1234.56")`, true},
		{`row.price * row.qty == decimal("0.3")`, true},
		{`row.qty * row.price`, "0.30"},
		{`row.total == 1234`, false},
		{`row.qty == decimal("3.00")`, true},
		{`decimal("3.00") == row.qty`, true},
		{`decimal("3.00") != row.qty`, false},
		{`row.price == row.price`, true},
		{`row.price != row.total`, true},
		{`12 == row.total`, false},
		{`1234.56 == 1234.56`, true}, // doubles untouched
		{`1 + 2 == 3`, true},
		{`"a" + "b" == "ab"`, true},
		{`row.name == "x"`, true},
		{`row.name == row.price`, false},
		{`row.nothing == null`, true},
		{`row.price == null`, false},
		{`row.amounts[0] > 1`, true},
		{`row.amounts[1] == null`, true},
		{`row.amounts[2] + row.amounts[0]`, "-0.5"},
		{`row.nested.price * 2`, "19.98"},
		// NaN and the infinities, as in PostgreSQL.
		{`row.nan == row.nan`, true},
		{`row.nan != decimal("NaN")`, false},
		{`row.nan > row.inf`, true},
		{`row.inf > row.total`, true},
		{`-row.inf < 0`, true},
		{`row.nan + 1`, "NaN"},
		{`row.inf - row.inf`, "NaN"},
		{`row.inf * 0`, "NaN"},
		{`row.nan / 0`, "NaN"},
		{`row.inf + 1`, "Infinity"},
		// Conversions and functions.
		{`string(row.total)`, text("1234.5600")},
		{`string(decimal("1e3"))`, text("1000")},
		{`int(decimal("-2.9"))`, int64(-2)},
		{`int(row.total)`, int64(1234)},
		{`double(decimal("0.5"))`, 0.5},
		{`row.total.scale()`, int64(4)},
		{`decimal("12").scale()`, int64(0)},
		{`round(row.total, 1)`, "1234.6"},
		{`round(decimal("2.5"), 0)`, "3"},
		{`round(decimal("-2.5"), 0)`, "-3"},
		{`round(decimal("1250"), -2)`, "1300"},
		{`decimal(decimal("1.0"))`, "1.0"},
		{`decimal(row.total)`, "1234.5600"},
		{`type(d) == type(row.total)`, true},
	}
	// The decorator must work with every evaluation mode the mapping may use.
	modes := map[string][]cel.ProgramOption{
		"default":    nil,
		"optimize":   {cel.EvalOptions(cel.OptOptimize)},
		"exhaustive": {cel.EvalOptions(cel.OptExhaustiveEval, cel.OptTrackState)},
	}
	for mode, opts := range modes {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.expr, func(t *testing.T) {
				got, _, err := compile(t, env, tt.expr, opts...).Eval(vars)
				if err != nil {
					t.Fatalf("Eval(%q): %v", tt.expr, err)
				}
				if s, ok := tt.want.(string); ok {
					d, ok := decimal.FromVal(got)
					if !ok {
						t.Fatalf("Eval(%q) = %v (%T); want decimal %s", tt.expr, got, got, s)
					}
					if d.String() != s {
						t.Fatalf("Eval(%q) = %s; want %s", tt.expr, d, s)
					}
					return
				}
				if s, ok := tt.want.(text); ok {
					tt.want = string(s)
				}
				if got.Value() != tt.want {
					t.Fatalf("Eval(%q) = %v (%T); want %v", tt.expr, got.Value(), got.Value(), tt.want)
				}
			})
		}
	}
}

func TestCELErrors(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		expr string
		want string // substring of the evaluation error
	}{
		{`decimal("1") / decimal("0")`, "division by zero"},
		{`row.total / 0`, "division by zero"},
		{`0 / decimal("0.00")`, "division by zero"},
		{`row.inf / 0`, "division by zero"},
		{`decimal("abc")`, `parse decimal "abc"`},
		{`row.bad > 1`, `parse decimal "12x"`},
		{`row.total > 1.5`, "no such overload"},
		{`1.5 < row.total`, "no such overload"},
		{`row.total + 1.5`, "no such overload"},
		{`row.ratio * row.total`, "no such overload"},
		{`row.total == 1.5`, "no such overload"},
		{`1.5 != row.total`, "no such overload"},
		{`row.nokey < decimal("1")`, "no such key"},
		{`decimal("1") == row.nokey`, "no such key"},
		{`row.name > 1`, "no such overload"},
		{`1 + row.name`, "no such overload"},
		{`int(row.nan)`, "not a finite number"},
		{`int(decimal("1e30"))`, "out of range"},
		{`decimal("1e99999") * decimal("1e10")`, "out of PostgreSQL numeric range"},
		{`decimal("1e-16000") * decimal("1e-1000")`, "out of PostgreSQL numeric range"},
		{`decimal("1e200000")`, "out of PostgreSQL numeric range"},
		{`round(d, 20000)`, "out of PostgreSQL numeric range"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, _, err := compile(t, env, tt.expr).Eval(vars)
			if err == nil {
				t.Fatalf("Eval(%q) = %v; want error containing %q", tt.expr, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Eval(%q) error = %q; want it to contain %q", tt.expr, err, tt.want)
			}
		})
	}
}

func TestCELCompileErrors(t *testing.T) {
	env := newEnv(t)
	tests := []string{
		`d > 1.5`,       // decimals never mix with doubles
		`d + 1.5`,       //
		`1.5 * d`,       //
		`decimal(1.5)`,  // no decimal(double): it would be inexact
		`d == 1`,        // CEL declares == for operands of one type only
		`d.scale(1)`,    //
		`round(d, "1")`, //
		`string(d) + d`, //
	}
	for _, expr := range tests {
		if _, iss := env.Compile(expr); iss.Err() == nil {
			t.Errorf("Compile(%q) succeeded; want a type error", expr)
		}
	}
}

// TestCELNative checks the ways results leave CEL: as a Decimal, as a string,
// as JSON.
func TestCELNative(t *testing.T) {
	env := newEnv(t)
	got, _, err := compile(t, env, `{"total": row.total, "n": 1}`).Eval(vars)
	if err != nil {
		t.Fatal(err)
	}
	m, err := got.ConvertToNative(mapStringAny)
	if err != nil {
		t.Fatalf("ConvertToNative: %v", err)
	}
	if d, ok := m.(map[string]any)["total"].(decimal.Decimal); !ok || d.String() != "1234.5600" {
		t.Fatalf("total = %#v; want Decimal 1234.5600", m.(map[string]any)["total"])
	}
	j, err := got.ConvertToNative(jsonValue)
	if err != nil {
		t.Fatalf("ConvertToNative(JSON): %v", err)
	}
	b, err := protojsonMarshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"total":"1234.5600"`) {
		t.Fatalf("JSON = %s; want total as the string 1234.5600", b)
	}
	v := decimal.Val(decimal.MustParse("1.5"))
	if s := v.ConvertToType(types.StringType); s != types.String("1.5") {
		t.Fatalf("ConvertToType(string) = %v", s)
	}
	if _, ok := decimal.FromVal(types.Int(1)); ok {
		t.Fatal("FromVal(Int) reported a decimal")
	}
	var _ ref.Val = v
}

func BenchmarkCELCompare(b *testing.B) {
	env := newEnv(b)
	for _, bc := range []struct {
		name string
		row  map[string]any
	}{
		{"numeric", map[string]any{"total": capture.Numeric("1234.5600")}},
		{"decimal", map[string]any{"total": decimal.MustParse("1234.5600")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			prg := compile(b, env, `row.total > 100`)
			act := map[string]any{"row": bc.row}
			b.ReportAllocs()
			for b.Loop() {
				v, _, err := prg.Eval(act)
				if err != nil || v != types.True {
					b.Fatalf("Eval = %v, %v", v, err)
				}
			}
		})
	}
}

// TestLibraryTwice checks that including the library twice, or extending an
// environment that has it, works.
func TestLibraryTwice(t *testing.T) {
	env, err := cel.NewEnv(decimal.Library(), decimal.Library(), cel.Variable("row", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		t.Fatalf("NewEnv: %v", err)
	}
	ext, err := env.Extend(decimal.Library(), cel.Variable("x", cel.IntType))
	if err != nil {
		t.Fatalf("Extend: %v", err)
	}
	for _, e := range []*cel.Env{env, ext} {
		got, _, err := compile(t, e, `100 < row.total`).Eval(vars)
		if err != nil || got != types.True {
			t.Fatalf("Eval = %v, %v; want true", got, err)
		}
	}
}

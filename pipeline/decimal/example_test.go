package decimal_test

import (
	"fmt"

	"github.com/google/cel-go/cel"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

func ExampleLibrary() {
	env, err := cel.NewEnv(
		decimal.Library(),
		cel.Variable("row", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ast, iss := env.Compile(`row.total > 100 && row.total * 2 == decimal("2469.12")`)
	if iss.Err() != nil {
		fmt.Println(iss.Err())
		return
	}
	prg, err := env.Program(ast)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _, err := prg.Eval(map[string]any{
		"row": map[string]any{"total": capture.Numeric("1234.5600")},
	})
	fmt.Println(out, err)
	// Output: true <nil>
}

func ExampleDecimal_Quo() {
	a, b := decimal.MustParse("10.00"), decimal.FromInt(3)
	q, err := a.Quo(b)
	fmt.Println(q, err)
	s, _ := a.Add(decimal.MustParse("0.005"))
	fmt.Println(s, s.Scale())
	// Output:
	// 3.333333333333333333333333333333333 <nil>
	// 10.005 3
}

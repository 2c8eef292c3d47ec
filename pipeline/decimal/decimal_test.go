package decimal

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string
		scale    int
	}{
		{"0", "0", 0},
		{"1234.5600", "1234.5600", 4},
		{"-0.5", "-0.5", 1},
		{"+7", "7", 0},
		{".5", "0.5", 1},
		{"5.", "5", 0},
		{" 12.30 ", "12.30", 2},
		{"1e30", "1000000000000000000000000000000", 0},
		{"1.5E-3", "0.0015", 4},
		{"-0", "0", 0},
		{"-0.000", "0.000", 3},
		{"0e5", "0", 0},
		{"NaN", "NaN", 0},
		{"nan", "NaN", 0},
		{"Infinity", "Infinity", 0},
		{"-Infinity", "-Infinity", 0},
		{"inf", "Infinity", 0},
		{"-INF", "-Infinity", 0},
		{"99999999999999999999999999999999999999.000000000000000000001", "99999999999999999999999999999999999999.000000000000000000001", 21},
	}
	for _, tt := range tests {
		d, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if d.String() != tt.want || d.Scale() != tt.scale {
			t.Errorf("Parse(%q) = %s (scale %d); want %s (scale %d)", tt.in, d, d.Scale(), tt.want, tt.scale)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error // nil: any syntax error
	}{
		{"", nil}, {"abc", nil}, {"1.2.3", nil}, {"1e", nil}, {"e5", nil}, {".", nil},
		{"-NaN", nil}, {"sNaN", nil}, {"NaN12", nil}, {"1_000", nil}, {"0x10", nil},
		{"--1", nil}, {"1e+-5", nil}, {"Infinityx", nil},
		{"1e-16384", ErrOutOfRange},
		{"1e100000", ErrOutOfRange},
		{"1e999999999999", ErrOutOfRange},
	}
	for _, tt := range tests {
		d, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %s; want an error", tt.in, d)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("Parse(%q) error = %v; want %v", tt.in, err, tt.want)
		}
	}
}

func TestArithmetic(t *testing.T) {
	tests := []struct {
		a, op, b, want string
	}{
		{"0.1", "+", "0.2", "0.3"},
		{"1e30", "+", "1", "1000000000000000000000000000001"},
		{"1.10", "-", "1.1", "0.00"},
		{"-1.5", "*", "2.00", "-3.000"},
		{"-0.0", "*", "5", "0.0"},
		{"1", "/", "3", "0.3333333333333333333333333333333333"},
		{"1", "/", "8", "0.125"},
		{"-7", "/", "2", "-3.5"},
		{"0.5", "/", "3", "0.1666666666666666666666666666666667"},
		{"2.5", "/", "1e-40", "25000000000000000000000000000000000000000"},
		{"NaN", "+", "1", "NaN"},
		{"Infinity", "-", "Infinity", "NaN"},
		{"-Infinity", "*", "2", "-Infinity"},
		{"Infinity", "/", "Infinity", "NaN"},
		{"1", "/", "Infinity", "0"},
		{"NaN", "/", "0", "NaN"},
	}
	for _, tt := range tests {
		a, b := MustParse(tt.a), MustParse(tt.b)
		var got Decimal
		var err error
		switch tt.op {
		case "+":
			got, err = a.Add(b)
		case "-":
			got, err = a.Sub(b)
		case "*":
			got, err = a.Mul(b)
		case "/":
			got, err = a.Quo(b)
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("%s %s %s = %s, %v; want %s", tt.a, tt.op, tt.b, got, err, tt.want)
		}
	}
	for _, a := range []string{"1", "0", "-0.00", "Infinity"} {
		if got, err := MustParse(a).Quo(MustParse("0.0")); !errors.Is(err, ErrDivisionByZero) {
			t.Errorf("%s / 0.0 = %s, %v; want ErrDivisionByZero", a, got, err)
		}
	}
}

func TestCmp(t *testing.T) {
	// In ascending order; equal neighbours are marked.
	order := []string{"-Infinity", "-1e30", "-1.5", "0", "0.000", "1", "1.0", "1.00000000000000000000000001", "1e30", "Infinity", "NaN", "nan"}
	equal := map[[2]string]bool{{"0", "0.000"}: true, {"1", "1.0"}: true, {"NaN", "nan"}: true}
	for i, a := range order {
		for j, b := range order {
			want := 0
			switch {
			case equal[[2]string{a, b}] || equal[[2]string{b, a}] || i == j:
			case i < j:
				want = -1
			default:
				want = 1
			}
			if got := MustParse(a).Cmp(MustParse(b)); got != want {
				t.Errorf("Cmp(%s, %s) = %d; want %d", a, b, got, want)
			}
		}
	}
}

func TestRoundAndConvert(t *testing.T) {
	rounds := []struct {
		in     string
		places int
		want   string
	}{
		{"2.5", 0, "3"}, {"-2.5", 0, "-3"}, {"2.45", 1, "2.5"}, {"1234.5678", 2, "1234.57"},
		{"1.5", 3, "1.500"}, {"1250", -2, "1300"}, {"49", -2, "0"}, {"999.99", 1, "1000.0"},
		{"NaN", 2, "NaN"}, {"-Infinity", 2, "-Infinity"},
	}
	for _, tt := range rounds {
		got, err := MustParse(tt.in).Round(tt.places)
		if err != nil || got.String() != tt.want {
			t.Errorf("Round(%s, %d) = %s, %v; want %s", tt.in, tt.places, got, err, tt.want)
		}
	}
	ints := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"-2.9", -2, true}, {"2.9", 2, true}, {"1e3", 1000, true}, {"9223372036854775807.9", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true}, {"9223372036854775808", 0, false}, {"NaN", 0, false}, {"Infinity", 0, false},
	}
	for _, tt := range ints {
		got, err := MustParse(tt.in).Int64()
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Int64(%s) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if f := MustParse("0.1").Float64(); f != 0.1 {
		t.Errorf("Float64(0.1) = %v", f)
	}
	if f := MustParse("-Infinity").Float64(); !math.IsInf(f, -1) {
		t.Errorf("Float64(-Infinity) = %v", f)
	}
	if f := NaN().Float64(); !math.IsNaN(f) {
		t.Errorf("Float64(NaN) = %v", f)
	}
}

func TestJSON(t *testing.T) {
	type doc struct {
		Total Decimal  `json:"total"`
		Tax   *Decimal `json:"tax"`
	}
	tax := MustParse("NaN")
	b, err := json.Marshal(doc{Total: MustParse("1234.5600"), Tax: &tax})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"total":"1234.5600","tax":"NaN"}`; string(b) != want {
		t.Fatalf("Marshal = %s; want %s", b, want)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Total.String() != "1234.5600" || !back.Tax.IsNaN() {
		t.Fatalf("Unmarshal = %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"total": 12.50}`), &back); err != nil || back.Total.String() != "12.50" {
		t.Fatalf("Unmarshal(number) = %s, %v", back.Total, err)
	}
	back.Total = MustParse("7")
	if err := json.Unmarshal([]byte(`{"total": null}`), &back); err != nil || back.Total.String() != "7" {
		t.Fatalf("Unmarshal(null) = %s, %v; want 7 unchanged", back.Total, err)
	}
	for _, bad := range []string{`{"total": true}`, `{"total": "x"}`, `{"total": {}}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

// TestParsePlainMatchesGeneral checks that the plain-text fast path of Parse
// gives what apd's general parser gives, for random plain numbers (seed
// printed) and edge cases, and that it leaves every other form alone.
func TestParsePlainMatchesGeneral(t *testing.T) {
	general := func(s string) Decimal {
		t.Helper()
		var d Decimal
		if _, _, err := exact.SetString(&d.v, s); err != nil {
			t.Fatalf("apd SetString(%q): %v", s, err)
		}
		return d.normal()
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	cases := []string{"0", "-0", "0.00", "-0.00", "007", "12.50", "-12.50", "999999999999999999", "-999999999999999999",
		"0.00000000000000001", "12345678.123456789", "1", "-1"}
	for range 20000 {
		var sb strings.Builder
		if rng.IntN(2) == 0 {
			sb.WriteByte('-')
		}
		n := 1 + rng.IntN(18)
		point := rng.IntN(n + 1)
		for i := range n {
			if i == point && i > 0 {
				sb.WriteByte('.')
			}
			sb.WriteByte(byte('0' + rng.IntN(10)))
		}
		cases = append(cases, sb.String())
	}
	for _, s := range cases {
		fast, ok := parsePlain(s)
		if !ok {
			t.Fatalf("parsePlain(%q) refused a plain number", s)
		}
		want := general(s)
		if fast.String() != want.String() || fast.Scale() != want.Scale() || fast.Cmp(want) != 0 ||
			fast.v.Negative != want.v.Negative || fast.v.Exponent != want.v.Exponent || fast.v.Form != want.v.Form {
			t.Fatalf("parsePlain(%q) = %s (scale %d); apd reads %s (scale %d)", s, fast, fast.Scale(), want, want.Scale())
		}
	}
	for _, s := range []string{"", "-", ".5", "5.", "1e5", "+1", " 1", "1 ", "1.2.3", "--1", "NaN", "inf", "1234567890123456789", "0x1", "1_0"} {
		if _, ok := parsePlain(s); ok {
			t.Errorf("parsePlain(%q) accepted it; the general parser must decide", s)
		}
	}
}

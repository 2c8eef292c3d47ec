package decimal

import "testing"

// FuzzDecimalParse checks that Parse never panics and that whatever it accepts
// round-trips: the String form parses back to an equal value with the same
// String and scale, and JSON does the same.
func FuzzDecimalParse(f *testing.F) {
	for _, s := range []string{"0", "1234.5600", "-0.5", "1e30", "1.5E-3", "NaN", "-Infinity", "inf", " 7 ", ".5", "5.", "-0", "1e-16383", "9e99999", "abc", "1e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		str := d.String()
		back, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse: %v", s, str, err)
		}
		if back.String() != str || back.Scale() != d.Scale() || back.Cmp(d) != 0 {
			t.Fatalf("Parse(%q) = %s; Parse(%s) = %s (scale %d vs %d)", s, str, str, back, back.Scale(), d.Scale())
		}
		b, _ := d.MarshalJSON()
		var j Decimal
		if err := j.UnmarshalJSON(b); err != nil || j.String() != str {
			t.Fatalf("JSON round trip of %s = %s, %v", str, j, err)
		}
		// Arithmetic on any accepted value must not panic.
		_, _ = d.Add(back)
		_, _ = d.Mul(back)
		_, _ = d.Quo(back)
		_, _ = d.Round(2)
		_, _ = d.Int64()
	})
}

package decimal

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// Limits every finite Decimal stays within: at most MaxIntegerDigits digits
// before the decimal point and MaxScale digits after it. MaxScale is
// PostgreSQL's; PostgreSQL allows 131072 integer digits, but the exponent range
// of the underlying apd library stops at 100000, so larger numerics (which no
// real column holds) fail to parse. Parse rejects text outside the limits and
// arithmetic whose result falls outside them fails with ErrOutOfRange, as
// PostgreSQL does ("value overflows numeric format").
const (
	MaxIntegerDigits = 100000
	MaxScale         = 16383
)

// DivisionPrecision is the number of significant digits a quotient is rounded to
// (half to even), as in IEEE 754 decimal128. Sums, differences and products are
// exact and never rounded.
const DivisionPrecision = 34

// Errors returned by the arithmetic of Decimal (and, inside CEL, reported as
// evaluation errors carrying the same message).
var (
	// ErrDivisionByZero is returned when a number other than NaN is divided by zero.
	ErrDivisionByZero = errors.New("decimal division by zero")
	// ErrOutOfRange is returned when a result has more than MaxIntegerDigits
	// digits before or more than MaxScale digits after the decimal point.
	ErrOutOfRange = errors.New("decimal value out of PostgreSQL numeric range")
)

// exact is the context of the exact operations: precision 0 means no rounding.
// Invalid operations (Infinity - Infinity, 0 * Infinity) are not trapped: their
// result is NaN, as in PostgreSQL.
var exact = apd.Context{
	MaxExponent: apd.MaxExponent,
	MinExponent: apd.MinExponent,
	Traps:       apd.SystemOverflow | apd.SystemUnderflow | apd.Overflow | apd.DivisionByZero | apd.DivisionUndefined | apd.DivisionImpossible,
	Rounding:    apd.RoundHalfEven,
}

// quotient is the context of division.
var quotient = func() apd.Context {
	c := exact
	c.Precision = DivisionPrecision
	return c
}()

// Decimal is an exact decimal number with PostgreSQL numeric semantics: a finite
// value with a scale (the number of digits after the decimal point, kept as
// written, so "1234.5600" stays "1234.5600"), NaN, Infinity or -Infinity.
//
// A Decimal is an immutable value: methods never modify their receiver or
// arguments, and Decimals may be copied and shared between goroutines freely.
// The zero value is 0.
//
// NaN follows PostgreSQL, not IEEE 754: NaN equals NaN and sorts above every
// other value, Infinity included; any arithmetic with a NaN operand yields NaN,
// as do Infinity - Infinity, 0 * Infinity and Infinity / Infinity.
type Decimal struct {
	v apd.Decimal
}

// Parse parses PostgreSQL numeric text: an optional sign, digits with an
// optional decimal point and an optional exponent ("-12.50", ".5", "1e30",
// "1.5E-3"), or, case-insensitively, "NaN", "Infinity", "-Infinity", "inf" and
// "-inf". Surrounding white space is ignored, as PostgreSQL does. The scale is
// kept: Parse("1.50").String() is "1.50". A negative zero becomes zero, since
// PostgreSQL has none.
func Parse(s string) (Decimal, error) {
	if d, ok := parsePlain(s); ok {
		return d, nil
	}
	var d Decimal
	t := strings.TrimSpace(s)
	lower := strings.ToLower(t)
	switch {
	case lower == "nan":
		d.v.Form = apd.NaN
		return d, nil
	case strings.Contains(lower, "nan"):
		// apd also reads signed NaNs, signaling NaNs and NaN payloads; PostgreSQL does not.
		return Decimal{}, fmt.Errorf("parse decimal %.40q: invalid syntax", s)
	}
	if !validSyntax(lower) {
		return Decimal{}, fmt.Errorf("parse decimal %.40q: invalid syntax", s)
	}
	if _, _, err := exact.SetString(&d.v, t); err != nil {
		// The syntax is right, so the exponent is beyond apd's range.
		return Decimal{}, fmt.Errorf("parse decimal %.40q: %w", s, ErrOutOfRange)
	}
	if err := d.check(); err != nil {
		return Decimal{}, fmt.Errorf("parse decimal %.40q: %w", s, err)
	}
	return d.normal(), nil
}

// parsePlain parses the usual form of numeric text, [-]digits[.digits] with
// at most 18 digits, without apd's general parser; it reports false for
// anything else, which Parse then reads the general way. The result is the
// one the general way gives (TestParsePlainMatchesGeneral).
func parsePlain(s string) (Decimal, bool) {
	var d Decimal
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	var coef uint64
	digits, scale := 0, 0
	point := false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			coef = coef*10 + uint64(c-'0')
			digits++
			if point {
				scale++
			}
		case c == '.' && !point && digits > 0:
			point = true
		default:
			return d, false
		}
	}
	if digits == 0 || digits > 18 || point && scale == 0 {
		return d, false
	}
	d.v.Coeff.SetUint64(coef)
	d.v.Exponent = -int32(scale)
	d.v.Negative = neg && coef != 0 // PostgreSQL has no negative zero
	return d, true
}

// validSyntax reports whether s (in lower case) is numeric text PostgreSQL
// reads: [+-] then "inf", "infinity", or digits with an optional point (at least
// one digit) and an optional exponent e[+-]digits.
func validSyntax(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "inf" || s == "infinity" {
		return true
	}
	digits := func() int {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		s = s[n:]
		return n
	}
	n := digits()
	if s != "" && s[0] == '.' {
		s = s[1:]
		n += digits()
	}
	if n == 0 {
		return false
	}
	if s != "" && s[0] == 'e' {
		s = s[1:]
		if s != "" && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		if digits() == 0 {
			return false
		}
	}
	return s == ""
}

// MustParse is like Parse but panics if s is not a valid decimal. It is meant
// for constants in programs and tests, never for input.
func MustParse(s string) Decimal {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// FromInt returns the Decimal equal to i, with scale 0.
func FromInt(i int64) Decimal {
	var d Decimal
	d.v.SetInt64(i)
	return d
}

// fromUint returns the Decimal equal to u.
func fromUint(u uint64) Decimal {
	var d Decimal
	d.v.Coeff.SetUint64(u)
	return d
}

// NaN returns the Decimal NaN.
func NaN() Decimal {
	var d Decimal
	d.v.Form = apd.NaN
	return d
}

// String returns d as PostgreSQL prints a numeric: plain notation without an
// exponent, with d's scale ("1234.5600", "-0.5", "1000000000000000000000000000000"
// for 1e30), or "NaN", "Infinity", "-Infinity". Parse(d.String()) equals d and
// has the same scale.
func (d Decimal) String() string {
	return d.v.Text('f')
}

// IsNaN reports whether d is NaN.
func (d Decimal) IsNaN() bool { return d.v.Form == apd.NaN }

// IsInf reports whether d is Infinity or -Infinity.
func (d Decimal) IsInf() bool { return d.v.Form == apd.Infinite }

// IsFinite reports whether d is neither NaN nor infinite.
func (d Decimal) IsFinite() bool { return d.v.Form == apd.Finite }

// Sign returns -1, 0 or +1 for negative, zero and positive values (Infinity
// included) and 0 for NaN.
func (d Decimal) Sign() int {
	if d.IsNaN() {
		return 0
	}
	return d.v.Sign()
}

// Scale returns the number of digits after the decimal point of a finite d
// ("1.50" has scale 2, "1e30" scale 0), and 0 for NaN and the infinities.
func (d Decimal) Scale() int {
	if !d.IsFinite() || d.v.Exponent >= 0 {
		return 0
	}
	return int(-d.v.Exponent)
}

// Cmp compares d and x numerically, ignoring scale ("1.0" equals "1.00"), and
// returns -1, 0 or +1. NaN equals NaN and is greater than every other value, as
// in PostgreSQL.
func (d Decimal) Cmp(x Decimal) int {
	switch dn, xn := d.IsNaN(), x.IsNaN(); {
	case dn && xn:
		return 0
	case dn:
		return 1
	case xn:
		return -1
	}
	return d.v.Cmp(&x.v)
}

// Equal reports whether d and x are numerically equal (see Cmp).
func (d Decimal) Equal(x Decimal) bool { return d.Cmp(x) == 0 }

// Add returns d + x, exactly. The result's scale is the larger of the two.
func (d Decimal) Add(x Decimal) (Decimal, error) {
	var r Decimal
	cond, err := exact.Add(&r.v, &d.v, &x.v)
	return r.result("add", cond, err)
}

// Sub returns d - x, exactly.
func (d Decimal) Sub(x Decimal) (Decimal, error) {
	var r Decimal
	cond, err := exact.Sub(&r.v, &d.v, &x.v)
	return r.result("subtract", cond, err)
}

// Mul returns d * x, exactly. The result's scale is the sum of the two.
func (d Decimal) Mul(x Decimal) (Decimal, error) {
	var r Decimal
	cond, err := exact.Mul(&r.v, &d.v, &x.v)
	return r.result("multiply", cond, err)
}

// Quo returns d / x rounded half to even to DivisionPrecision significant
// digits. An exact quotient keeps no more digits than it needs, and no fewer
// than the difference of the scales calls for (10 / 4 is 2.5, 1.00 / 4 is 0.25,
// 6.0 / 2 is 3.0), as the General Decimal Arithmetic specification says.
// Dividing anything but NaN by zero returns ErrDivisionByZero; NaN / 0 is NaN,
// as in PostgreSQL.
func (d Decimal) Quo(x Decimal) (Decimal, error) {
	if x.v.IsZero() && !d.IsNaN() && !x.IsNaN() {
		return Decimal{}, ErrDivisionByZero
	}
	var r Decimal
	cond, err := quotient.Quo(&r.v, &d.v, &x.v)
	if err == nil && !cond.Inexact() && r.IsFinite() {
		trimZeros(&r.v, d.v.Exponent-x.v.Exponent)
	}
	return r.result("divide", cond, err)
}

// trimZeros removes trailing zeros of d's coefficient while its exponent is
// below ideal.
func trimZeros(d *apd.Decimal, ideal int32) {
	if d.IsZero() {
		d.Exponent = min(max(d.Exponent, ideal), 0)
		return
	}
	var q, r, ten apd.BigInt
	ten.SetInt64(10)
	for d.Exponent < ideal {
		q.QuoRem(&d.Coeff, &ten, &r)
		if r.Sign() != 0 {
			return
		}
		d.Coeff.Set(&q)
		d.Exponent++
	}
}

// Neg returns -d. The negation of NaN is NaN and of zero is zero.
func (d Decimal) Neg() Decimal {
	var r Decimal
	r.v.Neg(&d.v)
	return r.normal()
}

// Round returns d rounded to places digits after the decimal point (to tens,
// hundreds... for negative places), halves away from zero, as PostgreSQL's
// round(numeric, int) does; the result has scale max(places, 0). NaN and the
// infinities are returned unchanged.
func (d Decimal) Round(places int) (Decimal, error) {
	if !d.IsFinite() {
		return d, nil
	}
	if places > MaxScale || places < -MaxIntegerDigits {
		return Decimal{}, fmt.Errorf("round to %d places: %w", places, ErrOutOfRange)
	}
	c := exact
	c.Rounding = apd.RoundHalfUp // apd's half-up rounds halves away from zero
	c.Traps |= apd.InvalidOperation
	// Enough precision for every integer digit, the kept fraction and a carry.
	c.Precision = uint32(max(d.v.NumDigits()+int64(d.v.Exponent), 0) + int64(max(places, 0)) + 1)
	var r Decimal
	if _, err := c.Quantize(&r.v, &d.v, int32(-places)); err != nil {
		return Decimal{}, fmt.Errorf("round to %d places: %w", places, err)
	}
	if places < 0 {
		// PostgreSQL prints round(1250, -2) as 1300, with scale 0.
		if _, err := c.Quantize(&r.v, &r.v, 0); err != nil {
			return Decimal{}, fmt.Errorf("round to %d places: %w", places, err)
		}
	}
	return r.result("round", 0, nil)
}

// Int64 returns d truncated toward zero, like CEL's int(double). It fails for
// NaN, the infinities and values outside the range of int64.
func (d Decimal) Int64() (int64, error) {
	if !d.IsFinite() {
		return 0, fmt.Errorf("convert decimal %s to int: not a finite number", d)
	}
	var t apd.Decimal
	c := exact
	c.Rounding = apd.RoundDown
	c.Traps |= apd.InvalidOperation
	c.Precision = uint32(max(d.v.NumDigits()+int64(d.v.Exponent), 0) + 1)
	if d.v.Exponent < 0 {
		if _, err := c.Quantize(&t, &d.v, 0); err != nil {
			return 0, fmt.Errorf("convert decimal to int: %w", err)
		}
	} else {
		t.Set(&d.v)
	}
	i, err := t.Int64()
	if err != nil {
		return 0, fmt.Errorf("convert decimal to int: out of range")
	}
	return i, nil
}

// Float64 returns the float64 nearest to d (NaN and the infinities map to
// theirs); it is the only inexact conversion.
func (d Decimal) Float64() float64 {
	switch {
	case d.IsNaN():
		return math.NaN()
	case d.IsInf() && d.v.Negative:
		return math.Inf(-1)
	case d.IsInf():
		return math.Inf(1)
	}
	f, _ := d.v.Float64() // out of range: ±Inf or 0, the nearest float64
	return f
}

// MarshalText implements encoding.TextMarshaler with String.
func (d Decimal) MarshalText() ([]byte, error) {
	return d.v.Append(nil, 'f'), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (d *Decimal) UnmarshalText(text []byte) error {
	p, err := Parse(string(text))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// MarshalJSON implements json.Marshaler: a Decimal is a JSON string holding its
// String form, e.g. "1234.5600" or "NaN", so that no reader turns it into a float.
func (d Decimal) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 24)
	b = append(b, '"')
	b = d.v.Append(b, 'f')
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler. It accepts a JSON string as written
// by MarshalJSON and, leniently, a JSON number; null leaves d unchanged, as
// encoding/json does for other types.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	} else if len(b) == 0 || !(b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		return fmt.Errorf("unmarshal decimal: want a JSON string or number, got %.20q", b)
	}
	return d.UnmarshalText(b)
}

// result finishes an arithmetic result: it wraps err (an error for cond) with
// the action, checks PostgreSQL's range and normalizes NaN and zero.
func (d Decimal) result(action string, cond apd.Condition, err error) (Decimal, error) {
	if cond&(apd.Overflow|apd.Underflow|apd.SystemOverflow|apd.SystemUnderflow) != 0 {
		return Decimal{}, fmt.Errorf("decimal %s: %w", action, ErrOutOfRange)
	}
	if err != nil {
		return Decimal{}, fmt.Errorf("decimal %s: %w", action, err)
	}
	if err := d.check(); err != nil {
		return Decimal{}, fmt.Errorf("decimal %s: %w", action, err)
	}
	return d.normal(), nil
}

// check reports whether a finite d fits PostgreSQL's numeric range.
func (d Decimal) check() error {
	if !d.IsFinite() {
		return nil
	}
	if -int64(d.v.Exponent) > MaxScale {
		return ErrOutOfRange
	}
	if !d.v.IsZero() && d.v.NumDigits()+int64(d.v.Exponent) > MaxIntegerDigits {
		return ErrOutOfRange
	}
	return nil
}

// normal drops the sign of NaN and of zero, which PostgreSQL does not have, and
// the positive exponent of zero ("0e5" is 0).
func (d Decimal) normal() Decimal {
	if d.IsNaN() || d.IsFinite() && d.v.IsZero() {
		d.v.Negative = false
	}
	if d.IsFinite() && d.v.IsZero() && d.v.Exponent > 0 {
		d.v.Exponent = 0
	}
	return d
}

package pgvalue

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/cdcflow/cdcflow/capture"
)

// Decode decodes one column value in PostgreSQL's text output format into the Go
// type that capture.Value's documentation prescribes for the column's type, and
// returns it as a capture.Value of KindValue.
//
// text is never SQL NULL: callers detect NULL themselves (pgoutput's 'n' marker,
// a NULL in a query result) and use capture.KindNull; a nil or empty text is the
// empty string (an error for types that cannot be empty). Decode does not retain
// text: every returned value owns its memory.
//
// Decode is safe for concurrent use and never panics.
func Decode(col capture.Column, text []byte) (capture.Value, error) {
	name := typeName(col)
	var (
		v   any
		err error
	)
	if len(name) > 1 && name[0] == '_' {
		v, err = decodeArray(name[1:], text)
	} else {
		v, err = decodeScalar(name, text)
	}
	if err != nil {
		return capture.Value{}, &Error{Column: col.Name, Type: displayName(name), Excerpt: excerpt(text), Err: err}
	}
	return capture.Value{Kind: capture.KindValue, Data: v}, nil
}

// TypeName returns the name of a built-in PostgreSQL type ("int4", "numeric",
// "_text" for text[]) and true, or "" and false for an OID that is not built in
// (user-defined types, enums, domains and their arrays).
//
// A domain column's TypeName should be its base type's name, the way pgoutput's
// Type message names it, so that the snapshot and the stream decode it alike.
func TypeName(oid uint32) (name string, ok bool) {
	t, ok := builtinTypes[oid]
	return t.name, ok
}

// Error reports a value that could not be decoded. It quotes at most a short
// excerpt of the value, so that logs do not fill with row data.
type Error struct {
	Column  string // the column's name
	Type    string // the type the value was decoded as
	Excerpt string // the first bytes of the value, quoted
	Err     error
}

// Error describes the failure.
func (e *Error) Error() string {
	return fmt.Sprintf("decode column %q of type %s from %s: %v", e.Column, e.Type, e.Excerpt, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// builtinType is one row of builtinTypes.
type builtinType struct {
	name  string
	elem  uint32 // element type OID of an array type; 0 otherwise
	delim byte   // array element delimiter: ',' except ';' for box
}

// typeName returns the name col's values decode as: the built-in name of its
// OID, or its TypeName.
func typeName(col capture.Column) string {
	if t, ok := builtinTypes[col.TypeOID]; ok {
		return t.name
	}
	return col.TypeName
}

func displayName(name string) string {
	if name == "" {
		return "unknown"
	}
	if len(name) > 1 && name[0] == '_' {
		return name[1:] + "[]"
	}
	return name
}

const excerptLen = 16

// excerpt quotes the first excerptLen bytes of text.
func excerpt(text []byte) string {
	if len(text) <= excerptLen {
		return strconv.Quote(string(text))
	}
	cut := excerptLen
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return strconv.Quote(string(text[:cut])) + "..."
}

var (
	errSyntax = errors.New("invalid syntax")
	errRange  = errors.New("value out of range")
)

// decodeScalar decodes a value of the named non-array type.
func decodeScalar(name string, s []byte) (any, error) {
	switch name {
	case "int2":
		return parseInt(s, 16)
	case "int4":
		return parseInt(s, 32)
	case "int8":
		return parseInt(s, 64)
	case "oid":
		n, err := strconv.ParseUint(string(s), 10, 32)
		if err != nil {
			return nil, numError(err)
		}
		return int64(n), nil
	case "numeric":
		return parseNumeric(s)
	case "money":
		return parseMoney(s)
	case "float4", "float8":
		return parseFloat(s)
	case "bool":
		switch string(s) {
		case "t":
			return true, nil
		case "f":
			return false, nil
		}
		return nil, errSyntax
	case "date":
		return parseDate(s)
	case "timestamp":
		return parseTimestamp(s)
	case "timestamptz":
		return parseTimestamptz(s)
	case "time":
		return parseTime(s)
	case "timetz":
		return parseTimetz(s)
	case "interval":
		return parseInterval(s)
	case "json", "jsonb":
		if !json.Valid(s) {
			return nil, errors.New("invalid JSON")
		}
		return json.RawMessage(append([]byte(nil), s...)), nil
	case "bytea":
		return parseBytea(s)
	}
	// text, varchar, bpchar, name, char, uuid, inet, cidr, macaddr, xml, enums,
	// and every type pgvalue does not know: the text as PostgreSQL printed it.
	return string(s), nil
}

func parseInt(s []byte, bits int) (int64, error) {
	n, err := strconv.ParseInt(string(s), 10, bits)
	if err != nil {
		return 0, numError(err)
	}
	return n, nil
}

// numError strips strconv's echo of the input, which may be long.
func numError(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		if errors.Is(ne.Err, strconv.ErrRange) {
			return errRange
		}
		return errSyntax
	}
	return err
}

// parseFloat parses real and double precision. Both become float64 parsed from
// the printed decimal, so a real printed as "1.1" is 1.1, not 1.100000023841858.
func parseFloat(s []byte) (float64, error) {
	switch string(s) {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	// strconv also accepts "inf", "0x1p3" and underscores, which PostgreSQL never
	// prints: allow only digits, sign, point and exponent.
	for _, c := range s {
		if !('0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return 0, errSyntax
		}
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return 0, numError(err)
	}
	return f, nil
}

// parseNumeric validates numeric's output, [-]digits[.digits], NaN or
// ±Infinity, and keeps it as exact text.
func parseNumeric(s []byte) (capture.Numeric, error) {
	switch string(s) {
	case "NaN", "Infinity", "-Infinity":
		return capture.Numeric(s), nil
	}
	if !isDecimal(s) {
		return "", errSyntax
	}
	return capture.Numeric(s), nil
}

// isDecimal reports whether s is [-]digits[.digits].
func isDecimal(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		frac := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == frac {
			return false
		}
	}
	return i == len(s)
}

// parseMoney parses money as printed under lc_monetary=C: "$1,234.56" or
// "-$1,234.56", into the exact decimal "1234.56" / "-1234.56".
func parseMoney(s []byte) (capture.Numeric, error) {
	out := make([]byte, 0, len(s))
	i := 0
	if i < len(s) && s[i] == '-' {
		out = append(out, '-')
		i++
	}
	if i >= len(s) || s[i] != '$' {
		return "", errors.New(`invalid syntax (lc_monetary must be "C")`)
	}
	i++
	for ; i < len(s); i++ {
		if s[i] != ',' {
			out = append(out, s[i])
		}
	}
	if !isDecimal(out) {
		return "", errors.New(`invalid syntax (lc_monetary must be "C")`)
	}
	return capture.Numeric(out), nil
}

// parseBytea decodes bytea's hex format ("\x0aff") and, for robustness, its
// escape format.
func parseBytea(s []byte) ([]byte, error) {
	if len(s) >= 2 && s[0] == '\\' && s[1] == 'x' {
		h := s[2:]
		if len(h)%2 != 0 {
			return nil, errors.New("odd number of hex digits")
		}
		out := make([]byte, len(h)/2)
		for i := range out {
			hi, ok1 := unhex(h[2*i])
			lo, ok2 := unhex(h[2*i+1])
			if !ok1 || !ok2 {
				return nil, errors.New("invalid hex digit")
			}
			out[i] = hi<<4 | lo
		}
		return out, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			out = append(out, '\\')
			i++
		case i+3 < len(s) && isOctal(s[i+1]) && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]):
			out = append(out, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
		default:
			return nil, errors.New("invalid escape")
		}
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isOctal(c byte) bool { return '0' <= c && c <= '7' }

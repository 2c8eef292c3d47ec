// Package decimal is the exact decimal number of cdcflow's mappings: PostgreSQL
// numeric and money values as a Go type (Decimal, over github.com/cockroachdb/apd/v3)
// and as a CEL type (Library), so that rules can add, compare and divide money
// without ever passing through a float.
//
// Decimal keeps PostgreSQL's text form and scale ("1234.5600" stays "1234.5600"),
// PostgreSQL's NaN and infinities, and PostgreSQL's range. Sums, differences and
// products are exact; quotients are rounded half to even to 34 significant digits.
// In JSON a Decimal is a string.
//
// In CEL, Library adds the type decimal, the conversions decimal(string),
// decimal(int), string(d), int(d), double(d), the operators + - * / < <= > >= ==
// != between decimals and with an int on either side, unary minus, d.scale() and
// round(d, n). A decimal never mixes with a double. See Library for the details.
//
// The package is pure (no I/O, goroutines, clocks, logging or metrics) and
// imports only capture (for capture.Numeric) besides apd and cel-go. Decimal
// values, the CEL type and the library are safe for concurrent use.
//
// Metrics: none.
package decimal

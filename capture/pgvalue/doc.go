// Package pgvalue decodes column values in PostgreSQL's text output format into
// the typed Go values that capture.Value documents (int64, capture.Numeric,
// float64, bool, string, capture.LocalTime, time.Time, json.RawMessage, []byte
// and []any for arrays).
//
// Both the streaming decoder (capture/pgoutput) and the initial snapshot
// (capture/snapshot) use it, so a row read by the snapshot and the same row
// streamed from the WAL decode to identical values. The text it parses must
// come from a session pinned to DateStyle=ISO, IntervalStyle=postgres,
// extra_float_digits=3, TimeZone=UTC, bytea_output=hex and lc_monetary=C;
// values printed under other settings are rejected with an error rather than
// guessed at.
//
// Types are chosen by OID for PostgreSQL's built-in types and by the column's
// TypeName otherwise. pgoutput names a domain by its base type, so a domain
// over numeric decodes as numeric; an enum, or any type pgvalue does not know,
// decodes as a string; an unknown array type (a TypeName starting with "_")
// decodes as an array of strings.
//
// Choices the capture.Value table leaves open, made here once:
//   - real and double precision both become the float64 nearest the printed
//     decimal, so a real printed as 1.1 is 1.1, not 1.100000023841858;
//   - money becomes capture.Numeric without the currency sign and grouping;
//   - timetz keeps PostgreSQL's text with the offset written as ±HH:MM;
//   - interval becomes the ISO 8601 duration PostgreSQL itself prints with
//     IntervalStyle=iso_8601, each part with its own sign ("P-1DT2H");
//   - arrays drop an explicit lower bound ("[0:1]={a,b}" is [a b]) and must be
//     rectangular, as PostgreSQL prints them;
//   - bytea accepts the escape format too, although the session pins hex.
//
// Decode never panics, whatever its input, and its errors name the column, the
// type and at most a short excerpt of the offending text. The package's own
// array parser is fuzzed against pgx's pgtype for agreement.
//
// pgvalue imports only the standard library and capture; it must never import
// pgx's connection packages, pipeline, sinks or any client library. It holds no
// state: every function is safe for concurrent use. It exports no metrics.
package pgvalue

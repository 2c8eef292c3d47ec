package pgvalue

import (
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
	panic("not implemented")
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

// builtinType is one row of builtinTypes.
type builtinType struct {
	name  string
	elem  uint32 // element type OID of an array type; 0 otherwise
	delim byte   // array element delimiter: ',' except ';' for box
}

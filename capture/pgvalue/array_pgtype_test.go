package pgvalue

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cdcflow/cdcflow/capture"
)

// FuzzArrayMatchesPgtype checks the array parser against pgx's: whenever
// pgvalue decodes a text[] value, pgtype must decode it too, to the same
// elements (flattened) and the same number of dimensions. (pgtype accepts some
// inputs PostgreSQL never prints, such as whitespace around elements, which
// pgvalue rejects; that direction is not compared. PostgreSQL never prints an
// unquoted null in lower case, where the two differ.)
func FuzzArrayMatchesPgtype(f *testing.F) {
	for _, s := range []string{
		`{a,b}`, `{"a b","c\"d",NULL,"NULL",""}`, `{{1,2},{3,NULL}}`, `[0:1]={a,b}`, `{}`, `{{{x}}}`, `{"\\\\"}`, `{nUlL}`,
	} {
		f.Add([]byte(s))
	}
	m := pgtype.NewMap()
	f.Fuzz(func(t *testing.T, text []byte) {
		if !utf8.Valid(text) {
			return // pgtype replaces invalid UTF-8; pgvalue keeps the bytes
		}
		v, err := Decode(capture.Column{Name: "c", TypeOID: pgtype.TextArrayOID}, text)
		if err != nil {
			return
		}
		var arr pgtype.Array[pgtype.Text]
		if err := m.Scan(pgtype.TextArrayOID, pgtype.TextFormatCode, text, &arr); err != nil {
			t.Fatalf("pgvalue decoded %q as %#v; pgtype fails: %v", text, v.Data, err)
		}
		var flat []any
		dims := flatten(v.Data.([]any), &flat, 0)
		if len(flat) != len(arr.Elements) {
			t.Fatalf("%q: pgvalue %d elements %#v, pgtype %d %#v", text, len(flat), flat, len(arr.Elements), arr.Elements)
		}
		for i, e := range arr.Elements {
			switch g := flat[i].(type) {
			case nil:
				// PostgreSQL's array_in reads an unquoted NULL in any case as
				// NULL; pgtype only the upper-case one.
				if e.Valid && !strings.EqualFold(e.String, "NULL") {
					t.Fatalf("%q element %d: pgvalue NULL, pgtype %q", text, i, e.String)
				}
			case string:
				if !e.Valid || e.String != g {
					t.Fatalf("%q element %d: pgvalue %q, pgtype %#v", text, i, g, e)
				}
			}
		}
		if len(flat) > 0 && dims != len(arr.Dims) {
			t.Fatalf("%q: pgvalue %d dimensions, pgtype %d", text, dims, len(arr.Dims))
		}
	})
}

// flatten appends the leaves of a nested array to out and returns its depth.
func flatten(a []any, out *[]any, depth int) int {
	depth++
	max := depth
	for _, e := range a {
		if sub, ok := e.([]any); ok {
			if d := flatten(sub, out, depth); d > max {
				max = d
			}
			continue
		}
		*out = append(*out, e)
	}
	return max
}

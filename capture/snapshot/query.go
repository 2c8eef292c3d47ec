package snapshot

import (
	"strconv"
	"strings"

	"github.com/cdcflow/cdcflow/capture"
)

// source is the relation a query reads: only says whether inheritance
// children are left out (FROM ONLY). A partitioned table is read without ONLY,
// so its query returns the rows of all its partitions.
type source struct {
	schema, name string
	only         bool
}

func (s source) String() string {
	q := capture.QuoteIdent(s.schema) + "." + capture.QuoteIdent(s.name)
	if s.only {
		return "ONLY " + q
	}
	return q
}

// keysetQuery returns the SELECT of one keyset-paginated chunk: up to limit
// rows of cols, ordered by the key columns. With after set, it reads the rows
// whose key is greater than the parameters $1..$n (the last key read); without,
// the first chunk. Key columns are compared as a row, which PostgreSQL answers
// from a btree index on them.
func keysetQuery(src source, cols, key []string, after bool, limit int) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	writeIdents(&b, cols)
	b.WriteString(" FROM ")
	b.WriteString(src.String())
	if after {
		b.WriteString(" WHERE ")
		if len(key) == 1 {
			b.WriteString(capture.QuoteIdent(key[0]))
			b.WriteString(" > $1")
		} else {
			b.WriteByte('(')
			writeIdents(&b, key)
			b.WriteString(") > (")
			for i := range key {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(i + 1))
			}
			b.WriteByte(')')
		}
	}
	b.WriteString(" ORDER BY ")
	writeIdents(&b, key)
	b.WriteString(" LIMIT ")
	b.WriteString(strconv.Itoa(limit))
	return b.String()
}

// ctidQuery returns the SELECT of the rows of cols stored in heap pages
// [from, to) of a table without a usable key (a TID range scan). A negative to
// leaves the range open at the end: the last range of a table reads to its
// end, so no page is missed however the size estimate was rounded.
func ctidQuery(src source, cols []string, from, to int64) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	writeIdents(&b, cols)
	b.WriteString(" FROM ")
	b.WriteString(src.String())
	b.WriteString(" WHERE ctid >= '(")
	b.WriteString(strconv.FormatInt(from, 10))
	b.WriteString(",0)'::tid")
	if to >= 0 {
		b.WriteString(" AND ctid < '(")
		b.WriteString(strconv.FormatInt(to, 10))
		b.WriteString(",0)'::tid")
	}
	return b.String()
}

func writeIdents(b *strings.Builder, names []string) {
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(capture.QuoteIdent(n))
	}
}

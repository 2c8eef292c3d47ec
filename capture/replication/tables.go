package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
)

// TableName is a schema-qualified table name, unquoted, exactly as in the
// catalog.
type TableName struct {
	Schema, Table string
}

// String returns the name quoted for SQL, e.g. "public"."Order Lines".
func (n TableName) String() string {
	return capture.QuoteIdent(n.Schema) + "." + capture.QuoteIdent(n.Table)
}

// ParseTableName parses a table name the way PostgreSQL reads one in SQL:
// schema.table or table (schema public); unquoted parts are folded to lower
// case, double-quoted parts are kept exactly, with "" standing for a quote:
// public."Order Lines", Sales.orders (= sales.orders), "my.schema"."t""x".
func ParseTableName(s string) (TableName, error) {
	parts, err := splitIdent(strings.TrimSpace(s))
	if err != nil {
		return TableName{}, fmt.Errorf("table name %q: %w", s, err)
	}
	switch len(parts) {
	case 1:
		return TableName{Schema: "public", Table: parts[0]}, nil
	case 2:
		return TableName{Schema: parts[0], Table: parts[1]}, nil
	}
	return TableName{}, fmt.Errorf("table name %q: want schema.table or table", s)
}

// splitIdent splits a dotted SQL name into its identifiers.
func splitIdent(s string) ([]string, error) {
	var parts []string
	for {
		var part string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return nil, errors.New("unterminated quoted identifier")
				}
				b.WriteString(s[i : i+j])
				i += j + 1
				if i < len(s) && s[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			part, s = b.String(), s[i:]
			if part == "" {
				return nil, errors.New("empty quoted identifier")
			}
		} else {
			end := strings.IndexByte(s, '.')
			if end < 0 {
				end = len(s)
			}
			raw := s[:end]
			if raw == "" {
				return nil, errors.New("empty identifier")
			}
			for _, r := range raw {
				if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r > 127) {
					return nil, fmt.Errorf("character %q needs double quotes", r)
				}
			}
			if raw[0] >= '0' && raw[0] <= '9' || raw[0] == '$' {
				return nil, fmt.Errorf("identifier %q needs double quotes", raw)
			}
			part, s = strings.ToLower(raw), s[end:]
		}
		parts = append(parts, part)
		if s == "" {
			return parts, nil
		}
		if s[0] != '.' {
			return nil, fmt.Errorf("unexpected %q after identifier", s)
		}
		s = s[1:]
	}
}

// table is a configured table as found in the catalog.
type table struct {
	name TableName
	oid  uint32
	// kind is pg_class.relkind: 'r' ordinary, 'p' partitioned.
	kind byte
	// partition is true when the table is itself a partition of another.
	partition bool
}

// resolveTables looks the configured tables up in the catalog. Unknown
// tables, and relations that are not tables, are one error listing them all.
func resolveTables(ctx context.Context, conn *pgx.Conn, names []string) ([]table, error) {
	var tables []table
	var missing []string
	for _, s := range names {
		n, err := ParseTableName(s)
		if err != nil {
			return nil, err
		}
		var t table
		t.name = n
		var kind string
		err = conn.QueryRow(ctx, `SELECT c.oid, c.relkind::text, c.relispartition
			FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
			WHERE ns.nspname = $1 AND c.relname = $2`, n.Schema, n.Table).Scan(&t.oid, &kind, &t.partition)
		if errors.Is(err, pgx.ErrNoRows) {
			missing = append(missing, n.String())
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up table %s: %w", n, err)
		}
		if kind != "r" && kind != "p" {
			return nil, fmt.Errorf("%s is not a table (relkind %q): only tables can be captured", n, kind)
		}
		t.kind = kind[0]
		tables = append(tables, t)
	}
	if len(missing) > 0 {
		return nil, &UnknownTablesError{Tables: missing}
	}
	return tables, nil
}

// UnknownTablesError reports configured tables that do not exist.
type UnknownTablesError struct {
	Tables []string // quoted names
}

func (e *UnknownTablesError) Error() string {
	return fmt.Sprintf("unknown tables %s: check capture.tables (names are case-folded unless double-quoted, e.g. public.\"OrderLines\")",
		strings.Join(e.Tables, ", "))
}

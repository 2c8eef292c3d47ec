package replication

import (
	"strings"
	"testing"
)

func TestParseTableName(t *testing.T) {
	tests := []struct {
		in      string
		want    TableName
		wantErr string
	}{
		{in: "orders", want: TableName{"public", "orders"}},
		{in: "Sales.Orders", want: TableName{"sales", "orders"}},
		{in: `public."Order Lines"`, want: TableName{"public", "Order Lines"}},
		{in: `"my.schema"."t""x"`, want: TableName{"my.schema", `t"x`}},
		{in: `  public.t_1$  `, want: TableName{"public", "t_1$"}},
		{in: `ümlaut.tä`, want: TableName{"ümlaut", "tä"}},
		{in: "", wantErr: "empty identifier"},
		{in: "a.b.c", wantErr: "want schema.table"},
		{in: "a.", wantErr: "empty identifier"},
		{in: `"open`, wantErr: "unterminated"},
		{in: `""`, wantErr: "empty quoted"},
		{in: "order lines", wantErr: "needs double quotes"},
		{in: "1t", wantErr: "needs double quotes"},
		{in: `"a"b`, wantErr: "unexpected"},
	}
	for _, tt := range tests {
		got, err := ParseTableName(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTableName(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTableName(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseTableName: no panic, and a parsed name's quoted form parses back
// to itself.
func FuzzParseTableName(f *testing.F) {
	for _, s := range []string{"orders", `public."Order Lines"`, `"a""b".c`, "a.b.c", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseTableName(s)
		if err != nil {
			return
		}
		back, err := ParseTableName(n.String())
		if err != nil || back != n {
			t.Fatalf("ParseTableName(%q) = %v, but its quoted form %s parses to %v, %v", s, n, n.String(), back, err)
		}
	})
}

package redisview

import (
	"testing"
	"time"
)

// TestCELStringFunctions checks that view expressions have the mapping's
// function library (pipeline.CELFunctions): the string extensions and exact
// decimals.
func TestCELStringFunctions(t *testing.T) {
	envs, err := newCELEnvs(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src  string
		kind exprKind
		want string
	}{
		{`data.tags.join(",")`, exprField, "a,b"},
		{`data.name.split(" ")[1]`, exprField, "Doe"},
		{`data.name.replace("Jane", "J.")`, exprField, "J. Doe"},
		{`data.name.substring(0, 4)`, exprField, "Jane"},
		{`data.name.upperAscii()`, exprField, "JANE DOE"},
		{`string(decimal(data.total) * 2)`, exprField, "24.68"},
		{`state.status.lowerAscii()`, exprString, "open"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := envs.compile(tt.src, tt.kind)
			if err != nil {
				t.Fatalf("compile(%q) = %v", tt.src, err)
			}
			got, err := p.eval(&vars{
				state: map[string]string{"status": "OPEN"},
				data:  map[string]any{"name": "Jane Doe", "tags": []any{"a", "b"}, "total": "12.34"},
			})
			if err != nil {
				t.Fatalf("eval(%q) = %v", tt.src, err)
			}
			if got.Value() != tt.want {
				t.Errorf("eval(%q) = %v; want %q", tt.src, got.Value(), tt.want)
			}
		})
	}
}

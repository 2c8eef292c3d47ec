package redisview

import (
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
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

// TestFastPathEqualsCEL checks that the expressions evaluated without CEL
// (fastPath) give what CEL gives, and that the others are left to CEL.
func TestFastPathEqualsCEL(t *testing.T) {
	envs, err := newCELEnvs(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src  string
		kind exprKind
		fast bool
	}{
		{`state.status`, exprString, true},
		{`state.status == "open"`, exprBool, true},
		{`"open" == state.status`, exprBool, true},
		{`state.status != "open"`, exprBool, false},
		{`has(state.status)`, exprBool, false},
		{`state.status == state.other`, exprBool, false},
		{`state["status"]`, exprString, false},
		{`timestamp(state.at)`, exprScore, true},
		{`timestamp(state.bad)`, exprScore, true},
		{`timestamp(state.far)`, exprScore, true},
		{`state.at.size()`, exprScore, false},
	}
	states := []map[string]string{
		{"status": "open", "other": "open", "at": "2026-11-23T10:00:00Z", "bad": "2026-11-23 10:00", "far": "10000-01-01T00:00:00Z"},
		{"status": "OPEN", "other": "x", "at": "2026-11-23T10:00:00.123+01:00", "bad": "x", "far": "0000-12-31T23:00:00-02:00"},
		{"other": "x"}, // status absent: CEL's error
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := envs.compile(tt.src, tt.kind)
			if err != nil {
				t.Fatalf("compile(%q) = %v", tt.src, err)
			}
			if (p.fast != nil) != tt.fast {
				t.Fatalf("compile(%q): fast path %v; want %v", tt.src, p.fast != nil, tt.fast)
			}
			for _, st := range states {
				got, gotErr := p.eval(&vars{state: st})
				want, _, wantErr := p.prg.Eval(&vars{state: st})
				if (gotErr != nil) != (wantErr != nil) || gotErr == nil && got.Equal(want) != types.True {
					t.Errorf("eval(%q) over %v = %v, %v; CEL gives %v, %v", tt.src, st, got, gotErr, want, wantErr)
				}
			}
		})
	}
}

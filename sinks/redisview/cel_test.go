package redisview

import (
	"testing"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/cdcflow/cdcflow/pipeline"
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
		{`decimal(state.total)`, exprSum, true},
		{`decimal(state.bad)`, exprSum, true},
		{`decimal(state.total) * 2`, exprSum, false},
	}
	states := []map[string]string{
		{"status": "open", "other": "open", "at": "2026-11-23T10:00:00Z", "bad": "2026-11-23 10:00", "far": "10000-01-01T00:00:00Z", "total": "12.50"},
		{"status": "OPEN", "other": "x", "at": "2026-11-23T10:00:00.123+01:00", "bad": "x", "far": "0000-12-31T23:00:00-02:00", "total": "-0.001"},
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

// TestFieldFastPathEqualsCEL checks that the entity field expressions
// evaluated without CEL (fieldFastPath) give what CEL gives, errors
// included, and that the others are left to CEL.
func TestFieldFastPathEqualsCEL(t *testing.T) {
	envs, err := newCELEnvs(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src  string
		fast bool
	}{
		{`"accepted"`, true},
		{`42`, true},
		{`null`, true},
		{`data.customer_id`, true},
		{`string(data.customer_id)`, true},
		{`data.n`, true},
		{`string(data.n)`, true},
		{`data.missing`, true},
		{`data.obj.customer_id`, false},
		{`has(data.status) ? data.status : "requested"`, false},
		{`event.time`, true},
		{`event.type`, false},
		{`string(event.time)`, false},
		{`data.customer_id + "x"`, false},
	}
	at := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.FixedZone("", 3600))
	ev := pipeline.Event{ID: "e1", Type: "OrderRequested", AggregateID: "o1", Time: at}
	datas := []string{
		`{"customer_id": "c1", "n": 7, "obj": {"customer_id": "c2"}}`,
		`{"customer_id": 12, "n": "7"}`,
		`[1, 2]`,
		`"text"`,
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := envs.compile(tt.src, exprField)
			if err != nil {
				t.Fatalf("compile(%q) = %v", tt.src, err)
			}
			if (p.fastField != nil) != tt.fast {
				t.Fatalf("compile(%q): fast path %v; want %v", tt.src, p.fastField != nil, tt.fast)
			}
			for _, d := range datas {
				data, err := jsonValue([]byte(d))
				if err != nil {
					t.Fatal(err)
				}
				got, gotErr := p.eval(&vars{data: data, ev: ev, hasEv: true, evRefs: p.eventRefs, state: map[string]string{}})
				want, _, wantErr := p.prg.Eval(&vars{data: data, event: eventVars(ev, p.eventRefs), state: map[string]string{}})
				if (gotErr != nil) != (wantErr != nil) || gotErr == nil && got.Equal(want) != types.True {
					t.Fatalf("eval(%q) over %s = %v, %v; CEL gives %v, %v", tt.src, d, got, gotErr, want, wantErr)
				}
				if gotErr != nil {
					continue
				}
				gt, gok, gerr := fieldText(got)
				wt, wok, werr := fieldText(want)
				if gt != wt || gok != wok || (gerr != nil) != (werr != nil) {
					t.Errorf("fieldText of eval(%q) over %s = %q, %v, %v; of CEL's %q, %v, %v", tt.src, d, gt, gok, gerr, wt, wok, werr)
				}
			}
		})
	}
}

package cep

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// TestFastPathEqualsCEL evaluates expressions of every shape fastPath
// takes (and a few it does not) over events and matches with data of every
// kind, with the fast path and with CEL, and requires the same value of the
// same type wherever the fast path answers; where CEL fails the fast path
// must not answer.
func TestFastPathEqualsCEL(t *testing.T) {
	envs, err := newCELEnvs()
	if err != nil {
		t.Fatal(err)
	}
	exprs := []struct {
		src  string
		env  envKind
		fast bool // fastPath takes the shape
	}{
		{"data.customer_id", envEvent, true},
		{"data.a.b", envEvent, true},
		{"data.missing", envEvent, true},
		{`data.currency == "EUR"`, envEvent, true},
		{`"EUR" == data.currency`, envEvent, true},
		{`data.order_id == "17"`, envEvent, true},
		{`data.nested == "x"`, envEvent, true},
		{"event.aggregate_id", envEvent, true},
		{"event.type", envEvent, true},
		{`event.type == "OrderPromised"`, envEvent, true},
		{"event.version", envEvent, true},
		{"event.aggregate_type", envEvent, true},
		{"event.id", envEvent, true},
		{"event.position", envEvent, true},
		{"event.time", envEvent, true},
		{"event.data.total", envEvent, true},
		{"event.data.nested.x", envEvent, true},
		{"data.lines", envEvent, true},
		{"has(data.total)", envEvent, false},
		{`data.currency != "EUR"`, envEvent, false},
		{"decimal(data.total)", envEvent, false},
		{`data.total == matched.requested.data.total`, envStep, false},
		{"matched.requested.data.total", envStep, true},
		{"matched.requested.type", envStep, true},
		{"data.total", envStep, true},
		{"key", envEmitAbsence, true},
		{"deadline", envEmitAbsence, true},
		{"matched.start.data.order_id", envEmitAbsence, true},
		{"matched.start.data.total", envEmitAbsence, true},
		{"matched.start.data.nested.x", envEmitAbsence, true},
		{"matched.start.data.missing", envEmitAbsence, true},
		{"matched.start.time", envEmitAbsence, true},
		{"matched.start.aggregate_id", envEmitAbsence, true},
		{"matched.start.version", envEmitAbsence, true},
		{"matched.start.id", envEmitAbsence, true},
		{"matched.start.position", envEmitAbsence, true},
		{"matched.start.aggregate_type", envEmitAbsence, true},
		{"matched.expect.type", envEmitAbsence, true},
		{"matched.expect.time", envEmitAbsence, true},
		{"matched.start.data", envEmitAbsence, false},
		{"count", envEmitWindow, true},
		{"sum", envEmitWindow, true},
		{"window_start", envEmitWindow, true},
		{"window_end", envEmitWindow, true},
		{"matched.last.data.customer_id", envEmitWindow, true},
		{"count + 1", envEmitWindow, false},
	}
	datas := []string{
		`{"order_id":17,"customer_id":42,"total":"129.90","currency":"EUR","lines":[{"line_no":1}],"nested":{"x":1.5,"y":null},"a":{"b":true}}`,
		`{"order_id":"17","customer_id":"c-42","currency":"USD","total":3.25,"nested":"x","a":{"b":"s"}}`,
		`{"customer_id":null,"total":1e400,"currency":null,"nested":{"x":"t"},"a":[1]}`,
		`{"customer_id":-9223372036854775808,"order_id":9223372036854775808,"a":{"b":{"c":1}}}`,
		`{"currency":"EU\u0052","customer_id":"\u00e9"}`,
		`{"customer_id":1,"currency":"EUR","customer_id":"dup", "a" : {"b":2,"b":"last"}}`,
		`{}`,
		` `,
		`[1,2]`,
		`"text"`,
	}
	ev := func(data string, i int) pipeline.Event {
		pos := pipeline.MakePosition(capture.LSN(0x1000+16*i), uint32(i), 0)
		return pipeline.Event{ID: pipeline.EventID("src", pos), Source: "src", Type: "OrderPromised", Version: 2, AggregateType: "order",
			AggregateID: "o7", Position: pos, Time: t0.Add(time.Duration(i) * time.Minute), Data: []byte(data)}
	}
	e := mustEngine(t, mustRules(t, allRules), 1)
	cases := 0
	for _, x := range exprs {
		p, err := envs.compile(x.src, exprAny, x.env)
		if err != nil {
			t.Fatalf("compile %s: %v", x.src, err)
		}
		if (p.fast != nil) != x.fast {
			t.Errorf("%s: fast path %v; want %v", x.src, p.fast != nil, x.fast)
		}
		if p.fast == nil {
			continue
		}
		members := map[string][]string{}
		for _, path := range p.matchedPaths {
			if len(path) >= 3 && path[1] == "data" {
				members[path[0]] = append(members[path[0]], path[2], "order_id")
			}
		}
		for i, d := range datas {
			for j, other := range datas {
				for _, want := range []map[string][]string{nil, members} {
					var vs *vars
					if x.env == envEvent || x.env == envStep {
						var in inputEvent
						in.reset(ev(d, i))
						if vs, err = in.activation(); err != nil {
							t.Fatal(err)
						}
						names := []string(nil)
						ms := []match(nil)
						if x.env == envStep {
							names, ms = []string{"requested"}, []match{e.matchOf(ev(other, j), "o7")}
						}
						vs.setMatched(names, ms)
					} else {
						vs = &vars{key: "k-1", deadline: t0.Add(time.Hour), count: 3, sum: decimal.MustParse("12.50"),
							winStart: t0, winEnd: t0.Add(time.Minute)}
						names := []string{"start", "expect"}
						if x.env == envEmitWindow {
							names = []string{"first", "last"}
						}
						ms := []match{e.matchOf(ev(d, i), "o7"), e.matchOf(ev(other, j), "k-1")}
						vs.setMatched(names, ms)
					}
					vs.want = want
					got, ok := p.fast(vs)
					celV, _, werr := p.prg.Eval(vs)
					if !ok {
						continue
					}
					cases++
					if werr != nil {
						t.Errorf("%s over %s, %s: fast %v; CEL fails: %v", x.src, d, other, got, werr)
						continue
					}
					if !sameVal(got, celV) {
						t.Errorf("%s over %s, %s: fast %v (%T); CEL %v (%T)", x.src, d, other, got, got, celV, celV)
					}
					if err := vs.check(); err != nil {
						t.Errorf("%s over %s, %s: check: %v", x.src, d, other, err)
					}
				}
			}
		}
	}
	if cases < 300 {
		t.Errorf("only %d cases answered by the fast path: not a test", cases)
	}
}

// sameVal reports whether two CEL values are of one type and equal.
func sameVal(a, b ref.Val) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) || a.Type() != b.Type() {
		return false
	}
	if da, ok := a.(types.Double); ok {
		return float64(da) == float64(b.(types.Double)) || math.IsNaN(float64(da)) && math.IsNaN(float64(b.(types.Double)))
	}
	return a.Equal(b) == types.True
}

// TestEmitDataEqualsMarshal checks that an emit's data are the bytes
// json.Marshal writes for the map of its fields, for every kind of value
// toJSON gives.
func TestEmitDataEqualsMarshal(t *testing.T) {
	values := []any{
		nil, true, false, int64(0), int64(-9223372036854775808), int64(9223372036854775807), uint64(18446744073709551615),
		1.5, 1e21, 1e-7, math.Copysign(0, -1), 123456789.0, "", "plain", `quo"te`, `back\slash`, "<html>&", "a<b", "a>b", "a&b", "tab\t", "é", "\u2028", "\x7f",
		string([]byte{0xff, 'a'}), "2026-03-01T08:00:00Z", []byte("bytes"), []any{}, []any{int64(1), "a", nil},
		map[string]any{"b": int64(1), "a": []any{"<"}},
	}
	for i, v := range values {
		for _, name := range []string{"a", "order_id", "z<&>"} {
			want, err := json.Marshal(map[string]any{name: v, "m": "x"})
			if err != nil {
				t.Fatal(err)
			}
			fields := map[string]any{name: v, "m": "x"}
			got := []byte{'{'}
			for _, k := range sortedKeys(fields) {
				got = appendField(t, got, k, fields[k])
			}
			got = append(got, '}')
			if string(got) != string(want) {
				t.Errorf("value %d %#v: %s; want %s", i, v, got, want)
			}
		}
	}
}

func appendField(t *testing.T, b []byte, name string, v any) []byte {
	t.Helper()
	if len(b) > 1 {
		b = append(b, ',')
	}
	b, err := appendJSON(b, name)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, ':')
	if b, err = appendJSON(b, v); err != nil {
		t.Fatal(fmt.Errorf("%#v: %w", v, err))
	}
	return b
}

// TestUndecodableMatchedData checks that a matched event whose data is not
// JSON fails a derivation even when no field reads its data (its data is
// checked, not decoded, when nothing reads it): an evaluation error for a
// sequence, and Feed's error for an absence timeout.
func TestUndecodableMatchedData(t *testing.T) {
	rs := mustRules(t, `version: 1
rules:
  - name: seq
    version: 1
    kind: sequence
    aggregate: order
    steps:
      - {name: a, type: A}
      - {name: b, type: B}
    within: 1h
    emit: {type: Done, version: 1, data: {k: key, n: matched.b.data.n}}
  - name: late
    version: 1
    kind: absence
    aggregate: order
    start: {type: P}
    expect: {type: D}
    within: 1m
    emit: {type: Late, version: 1, data: {k: key}}
`)
	e := mustEngine(t, rs, 1)
	got := run(t, e, in(0, 16, "A", "o1", 0, `{"n":1`), in(0, 32, "B", "o1", time.Second, `{"n":2}`),
		in(0, 48, "A", "o2", 2*time.Second, `{"n":1}`), in(0, 64, "B", "o2", 3*time.Second, `{"n":2}`))
	if b := brief(got); b != `Done o2 {"k":"o2","n":2}` {
		t.Errorf("derived:\n%s\nwant only o2's", b)
	}
	if s := e.Stats()[0]; s.Errors != 1 || s.Derived != 1 {
		t.Errorf("seq: %d errors, %d derived; want 1 and 1", s.Errors, s.Derived)
	}
	run(t, e, in(0, 80, "P", "o3", 4*time.Second, `[1,`))
	err := e.Feed(progress(0, 96, 2*time.Minute), func(pipeline.Event) {})
	if err == nil || !strings.Contains(err.Error(), "decode event data") {
		t.Errorf("Feed past the deadline of an undecodable start: %v; want its decoding error", err)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// FuzzParseUUID checks that parseUUID takes exactly the canonical
// lower-case form, and that formatUUID writes back what it took.
func FuzzParseUUID(f *testing.F) {
	for _, s := range []string{"0f8fad5b-d9cb-469f-a165-70867728950e", "0F8FAD5B-D9CB-469F-A165-70867728950E",
		"0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5bd9cb-469f-a165-70867728950e-", "0f8fad5b-d9cb-469f-a165-70867728950g",
		"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := parseUUID(s)
		if ok != uuidRE.MatchString(s) {
			t.Fatalf("parseUUID(%q) ok = %v", s, ok)
		}
		if ok && formatUUID(u) != s {
			t.Fatalf("formatUUID(parseUUID(%q)) = %q", s, formatUUID(u))
		}
	})
}

package cep

import (
	"errors"
	"strings"
	"testing"

	orders "github.com/cdcflow/cdcflow/deploy/examples/orders"
	"github.com/cdcflow/cdcflow/pipeline"
)

func TestParseRulesErrors(t *testing.T) {
	rule := func(body string) string {
		return "version: 1\nrules:\n  - name: r\n    version: 1\n" + body
	}
	const abs = "    kind: absence\n    aggregate: order\n    start: {type: A}\n    expect: {type: B}\n    within: 1h\n"
	const emit = "    emit: {type: X, version: 1}\n"
	tests := []struct {
		name, src string
		want      []string
	}{
		{"empty", "", []string{"test.yaml:1: want one YAML document"}},
		{"no rules", "version: 1\nrules: []\n", []string{"want at least one rule"}},
		{"file version", "version: 2\nrules: []\n", []string{"test.yaml:1: version 2: want 1"}},
		{"unknown key with a near name", rule(abs + emit + "    withn: 1h\n"), []string{`test.yaml:11: rule "r": unknown key withn (did you mean within?)`}},
		{"unknown kind", rule("    kind: absense\n    aggregate: order\n" + emit), []string{`test.yaml:5: rule "r": kind "absense": want absence, sequence, count or sum (did you mean absence?)`}},
		{"missing emit", rule(abs), []string{`missing key "emit"`}},
		{"missing within", rule("    kind: absence\n    aggregate: order\n    start: {type: A}\n    expect: {type: B}\n" + emit), []string{`missing key "within"`}},
		{"key of another kind", rule(abs + emit + "    window: 1h\n"), []string{`test.yaml:11: rule "r": key "window" does not apply to a absence rule`}},
		{"CEL syntax", rule(abs + "    key: data.(\n" + emit), []string{`test.yaml:10: rule "r": key: `}},
		{"when must be bool", rule("    kind: absence\n    aggregate: order\n    start: {type: A, when: '1'}\n    expect: {type: B}\n    within: 1h\n" + emit),
			[]string{`test.yaml:7: rule "r": start.when: result is int; want bool`}},
		{"unknown match", rule(abs + "    emit: {type: X, version: 1, data: {a: matched.strat.data.x}}\n"),
			[]string{`matched.strat: no such match (this expression sees start) (did you mean start?)`}},
		{"unknown event field", rule(abs + "    emit: {type: X, version: 1, data: {a: matched.start.tyme}}\n"),
			[]string{`matched.start.tyme: no such field`, `(did you mean time or type?)`}},
		{"count needs a kind's variables", rule(abs + "    emit: {type: X, version: 1, data: {a: count}}\n"),
			[]string{`undeclared reference to 'count'`}},
		{"bad duration", rule(strings.Replace(abs, "1h", "-1h", 1) + emit), []string{`within -1h0m0s: want more than 0`}},
		{"sum threshold", rule("    kind: sum\n    aggregate: c\n    on: {type: A}\n    window: 1h\n    at_least: abc\n    value: decimal(data.t)\n" + emit),
			[]string{`at_least "abc": want a decimal number`}},
		{"sequence of one step", rule("    kind: sequence\n    aggregate: c\n    steps: [{name: a, type: A}]\n    within: 1h\n" + emit),
			[]string{`steps: want at least two steps`}},
		{"later step sees earlier ones only", rule("    kind: sequence\n    aggregate: c\n    steps: [{name: a, type: A, when: matched.b.type == \"x\"}, {name: b, type: B}]\n    within: 1h\n" + emit),
			[]string{`steps[0].when: ERROR: <input>:1:1: undeclared reference to 'matched'`}},
		{"duplicate rule", "version: 1\nrules:\n  - {name: r, version: 1, kind: count, aggregate: c, on: {type: A}, window: 1h, at_least: 2, emit: {type: X, version: 1}}\n" +
			"  - {name: r, version: 1, kind: count, aggregate: c, on: {type: A}, window: 1h, at_least: 2, emit: {type: X, version: 1}}\n",
			[]string{`test.yaml:4: rule "r": duplicate rule name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRules("test.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("ParseRules = nil error; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseRules error:\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func loadMapping(t testing.TB) *pipeline.Mapping {
	t.Helper()
	m, err := pipeline.Load(orders.Files, orders.MappingFile, pipeline.LoadOptions{})
	if err != nil {
		t.Fatalf("load the reference mapping: %v", err)
	}
	return m
}

func TestReferenceRulesCheck(t *testing.T) {
	src, err := readReference()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules("cep.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Check(loadMapping(t)); err != nil {
		t.Fatalf("Check of the reference rules: %v", err)
	}
}

func TestCheck(t *testing.T) {
	m := loadMapping(t)
	abs := func(start, expect, emitData string) string {
		return "version: 1\nrules:\n  - name: r\n    version: 1\n    kind: absence\n    aggregate: order\n" +
			"    start: " + start + "\n    expect: " + expect + "\n    within: 1h\n" +
			"    emit: {type: X, version: 1, data: " + emitData + "}\n"
	}
	tests := []struct {
		name, src string
		want      string // "" means no error
	}{
		{"valid", abs("{type: OrderPromised}", "{type: OrderDeclared}", "{t: matched.start.data.total}"), ""},
		{"unknown type", abs("{type: OrderPromissed}", "{type: OrderDeclared}", "{}"),
			`cep.yaml:7: rule "r": start: event type "OrderPromissed": neither the mapping nor an earlier rule produces it (did you mean OrderPromised?)`},
		{"unknown field of a match", abs("{type: OrderPromised}", "{type: OrderDeclared}", "{t: matched.start.data.totl}"),
			`cep.yaml:10: rule "r": emit.data.t: data.totl: no such field in OrderPromised v1 (did you mean total?)`},
		{"unknown field in a condition", abs("{type: OrderPromised, when: data.customer_id == 1}", "{type: OrderDeclared}", "{}"),
			`data.customer_id: no such field in OrderPromised v1`},
		{"a field of a scalar", abs("{type: OrderPromised}", "{type: OrderDeclared, when: matched.start.data.total.x == 1}", "{}"),
			`data.total is not an object in OrderPromised v1`},
		{"key must exist in every type", "version: 1\nrules:\n  - {name: r, version: 1, kind: count, aggregate: c, on: {type: [OrderRequested, OrderDeclined]}, key: data.customer_id, window: 1h, at_least: 2, emit: {type: X, version: 1}}\n",
			`data.customer_id: no such field in OrderDeclined v1`},
		{"key of a type that is no key", "version: 1\nrules:\n  - {name: r, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, key: data.lines, window: 1h, at_least: 2, emit: {type: X, version: 1}}\n",
			`cep.yaml:3: rule "r": key: data.lines is array in OrderRequested v1: want a string or an integer`},
		{"key of a string or an integer", "version: 1\nrules:\n  - {name: r, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, key: data.customer_id, window: 1h, at_least: 2, emit: {type: X, version: 1}}\n" +
			"  - {name: s, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, key: data.currency, window: 1h, at_least: 2, emit: {type: Y, version: 1}}\n", ""},
		{"a derived field's type is known", "version: 1\nrules:\n" +
			"  - {name: a, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, key: data.customer_id, window: 1h, at_least: 2, emit: {type: X, version: 1, data: {n: count, at: window_end}}}\n" +
			"  - {name: b, version: 1, kind: count, aggregate: c, on: {type: X}, key: data.n, window: 1h, at_least: 2, emit: {type: Y, version: 1}}\n" +
			"  - {name: d, version: 1, kind: count, aggregate: c, on: {type: X}, key: data.at.x, window: 1h, at_least: 2, emit: {type: Z, version: 1}}\n",
			`cep.yaml:5: rule "d": key: data.at is not an object in X v1 (rule a): it has no field "x"`},
		{"derived types of earlier rules are known", "version: 1\nrules:\n" +
			"  - {name: a, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, key: data.customer_id, window: 1h, at_least: 2, emit: {type: X, version: 1, data: {c: key}}}\n" +
			"  - {name: b, version: 1, kind: count, aggregate: c, on: {type: X}, key: data.c, window: 1h, at_least: 2, emit: {type: Y, version: 1}}\n", ""},
		{"derived fields are checked", "version: 1\nrules:\n" +
			"  - {name: a, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, key: data.customer_id, window: 1h, at_least: 2, emit: {type: X, version: 1, data: {c: key}}}\n" +
			"  - {name: b, version: 1, kind: count, aggregate: c, on: {type: X}, key: data.d, window: 1h, at_least: 2, emit: {type: Y, version: 1}}\n",
			`data.d: no such field in X v1 (rule a) (did you mean c?)`},
		{"a rule does not see the rules below it", "version: 1\nrules:\n" +
			"  - {name: b, version: 1, kind: count, aggregate: c, on: {type: X}, window: 1h, at_least: 2, emit: {type: Y, version: 1}}\n" +
			"  - {name: a, version: 1, kind: count, aggregate: c, on: {type: OrderRequested}, window: 1h, at_least: 2, emit: {type: X, version: 1}}\n",
			`event type "X": neither the mapping nor an earlier rule produces it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseRules("cep.yaml", []byte(tt.src))
			if err != nil {
				t.Fatalf("ParseRules: %v", err)
			}
			err = rs.Check(m)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check = %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check = %v; want %q", err, tt.want)
			}
			var re RuleErrors
			if err != nil && !errors.As(err, &re) {
				t.Errorf("Check error %T; want RuleErrors", err)
			}
		})
	}
}

func FuzzParseRules(f *testing.F) {
	if src, err := readReference(); err == nil {
		f.Add(src)
	}
	for _, s := range []string{absenceRules, sequenceRules, allRules, windowRules("sum", "    at_least: \"1\"\n    value: decimal(data.total)"),
		"", "version: 1", "rules: *a", "a: &a [*a]", "version: 1\nrules:\n  - {name: x, kind: count}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		rs, err := ParseRules("fuzz.yaml", src)
		if err != nil {
			if rs != nil {
				t.Fatal("ParseRules returned rules and an error")
			}
			return
		}
		if len(rs.Names()) == 0 {
			t.Fatal("ParseRules accepted a file without rules")
		}
		if _, err := New(rs, Config{Source: "s", Partitions: partitions(1)}); err != nil {
			t.Fatalf("New over parsed rules: %v", err)
		}
	})
}

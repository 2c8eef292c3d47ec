package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckAgreesWithRun: a mapping without schemas while validation is on
// is refused by check as run refuses it, with the way out; with validation
// off both accept it.
func TestCheckAgreesWithRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mapping.yaml")
	src := `version: 1
topics: {prefix: shop.}
tables:
  - table: orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - {type: OrderPlaced, version: 1, when: op == "insert", data: {id: row.id}}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CDCFLOW_MAPPING_FILE", file)
	t.Setenv("CDCFLOW_SOURCE_DSN", "")
	check := func() (int, string) {
		var out bytes.Buffer
		code := run(t.Context(), []string{"check", "--offline"}, &out, &out)
		return code, out.String()
	}
	code, out := check()
	if code != 1 || !strings.Contains(out, "FAIL  mapping") || !strings.Contains(out, "names no schemas") || !strings.Contains(out, "mapping.no_validation") {
		t.Errorf("check of a mapping without schemas: exit %d; want 1, naming the missing schemas and the way out:\n%s", code, out)
	}
	t.Setenv("CDCFLOW_MAPPING_NO_VALIDATION", "true")
	if code, out := check(); code != 0 {
		t.Errorf("check with validation off: exit %d; want 0:\n%s", code, out)
	}
}

// TestCheckViews: check validates the views file against the mapping's
// event types and schemas, naming file, line and view with a suggestion, and
// says skip when there is no views file.
func TestCheckViews(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mapping := write("mapping.yaml", `version: 1
schemas: schemas
tables:
  - table: orders
    aggregate: {type: order, id: string(row.id)}
    events:
      - {type: OrderPlaced, version: 1, when: op == "insert", data: {id: row.id, amount: row.amount}}
`)
	write("schemas/OrderPlaced.v1.json", `{"type":"object","required":["id","amount"],
  "properties":{"id":{"type":"integer"},"amount":{"type":"string"}}}`)
	good := write("good.yaml", `version: 1
views:
  - name: order
    kind: entity
    aggregate: order
    on: [{type: OrderPlaced, set: {amount: data.amount}}]
`)
	bad := write("bad.yaml", `version: 1
views:
  - name: order
    kind: entity
    aggregate: order
    on:
      - type: OrderPlaced
        set: {amount: data.amout}
    delete_on: [OrderDeleted]
`)
	notCEL := write("notcel.yaml", `version: 1
views:
  - name: order
    kind: entity
    aggregate: order
    on: [{type: OrderPlaced, set: {amount: 'data.amount +'}}]
`)
	t.Setenv("CDCFLOW_MAPPING_FILE", mapping)
	t.Setenv("CDCFLOW_SOURCE_DSN", "")
	t.Setenv("CDCFLOW_VIEWS_FILE", "")
	tests := []struct {
		name string
		args []string
		code int
		want []string // in the output
	}{
		{"no views file", nil, 0, []string{"skip  views                  no views file"}},
		{"good", []string{"--views", good}, 0, []string{"ok    views                  " + good + ": 1 view(s) match"}},
		{"bad", []string{"--views", bad}, 1, []string{
			"FAIL  views",
			"      " + bad + `:8: view "order": on.set.amount: data.amout: no such field in OrderPlaced v1 (did you mean amount?)`,
			"      " + bad + `:9: view "order": delete_on: event type "OrderDeleted": the mapping`,
		}},
		{"CEL does not compile", []string{"--views", notCEL}, 1, []string{"FAIL  views", "      " + notCEL + `:6: view "order": on.set.amount: `}},
		{"missing file", []string{"--views", filepath.Join(dir, "nope.yaml")}, 1, []string{"FAIL  views", "views.file: open "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(t.Context(), append([]string{"check", "--offline"}, tt.args...), &out, &out)
			if code != tt.code {
				t.Errorf("check %v: exit %d; want %d:\n%s", tt.args, code, tt.code, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("check %v: output lacks %q:\n%s", tt.args, w, out.String())
				}
			}
		})
	}
}

// TestCheckRules: check validates a CEP rules file against the mapping's
// events, every problem as file:line: rule "name": problem, and checks views
// over derived events once the rules say what they derive.
func TestCheckRules(t *testing.T) {
	const orders = "../../deploy/examples/orders/"
	dir := t.TempDir()
	write := func(name, src string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	rules := func(start, emitData string) string {
		return "version: 1\nrules:\n  - name: late\n    version: 1\n    kind: absence\n    aggregate: order\n" +
			"    start: {type: " + start + "}\n    expect: {type: OrderDeclared}\n    within: 1h\n" +
			"    emit: {type: OrderLate, version: 1, data: " + emitData + "}\n"
	}
	unknownType := write("type.yaml", rules("OrderPromissed", "{}"))
	unknownField := write("field.yaml", rules("OrderPromised", "{t: matched.start.data.totl}"))
	badCEL := write("cel.yaml", rules("OrderPromised", "{t: 'matched.start.data.total +'}"))
	badYAML := write("yaml.yaml", rules("OrderPromised", "{}")+"    withn: 2h\n")
	t.Setenv("CDCFLOW_MAPPING_FILE", orders+"mapping.yaml")
	t.Setenv("CDCFLOW_SOURCE_DSN", "")
	t.Setenv("CDCFLOW_VIEWS_FILE", "")
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no rules file", nil, 0, []string{"skip  cep rules              no rules file (--rules)"}},
		{"reference", []string{"--rules", orders + "cep.yaml"}, 0, []string{"ok    cep rules              " + orders + "cep.yaml: 3 rule(s) match the mapping's events, 4 derived type(s)"}},
		{"reference with the overdue views", []string{"--rules", orders + "cep.yaml", "--views", orders + "overdue.views.yaml"}, 0, []string{"ok    views                  " + orders + "overdue.views.yaml: 2 view(s)"}},
		{"overdue views without the rules", []string{"--views", orders + "overdue.views.yaml"}, 1, []string{`event type "OrderOverdue": the mapping`}},
		{"unknown type", []string{"--rules", unknownType}, 1, []string{"FAIL  cep rules",
			"      " + unknownType + `:7: rule "late": start: event type "OrderPromissed": neither the mapping nor an earlier rule produces it (did you mean OrderPromised?)`}},
		{"unknown field", []string{"--rules", unknownField}, 1, []string{
			"      " + unknownField + `:10: rule "late": emit.data.t: data.totl: no such field in OrderPromised v1 (did you mean total?)`}},
		{"CEL does not compile", []string{"--rules", badCEL}, 1, []string{"      " + badCEL + `:10: rule "late": emit.data.t: `}},
		{"unknown key", []string{"--rules", badYAML}, 1, []string{"      " + badYAML + `:11: rule "late": unknown key withn (did you mean within?)`}},
		{"missing file", []string{"--rules", filepath.Join(dir, "nope.yaml")}, 1, []string{"FAIL  cep rules", "cep rules: open "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(t.Context(), append([]string{"check", "--offline"}, tt.args...), &out, &out)
			if code != tt.code {
				t.Errorf("check %v: exit %d; want %d:\n%s", tt.args, code, tt.code, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("check %v: output lacks %q:\n%s", tt.args, w, out.String())
				}
			}
		})
	}
}

package redisview

import (
	"os"
	"strings"
	"testing"
)

func TestParseDefinitionsReference(t *testing.T) {
	src, err := os.ReadFile("testdata/orders.views.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDefinitions(src)
	if err != nil {
		t.Fatalf("ParseDefinitions: %v", err)
	}
	if got, want := strings.Join(d.Names(), ","), "order,pending,by_customer,per_status,revenue_per_day,history"; got != want {
		t.Errorf("Names() = %s; want %s", got, want)
	}
	if got := d.AggregateTypes(); len(got) != 1 || got[0] != "order" {
		t.Errorf("AggregateTypes() = %v; want [order]", got)
	}
	if d.Location.String() != "Europe/Berlin" {
		t.Errorf("Location = %v; want Europe/Berlin", d.Location)
	}
}

func TestParseDefinitionsErrors(t *testing.T) {
	const entity = "  - name: order\n    kind: entity\n    aggregate: order\n    on: [{type: A, set: {x: data.x}}]\n"
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{"no views", "version: 1\nviews: []\n", []string{"want at least one view"}},
		{"bad version", "version: 2\nviews: []\n", []string{"line 1", "version 2: want 1"}},
		{"unknown file key", "version: 1\nview: []\n", []string{"line 2", `unknown key view (did you mean views?)`}},
		{"unknown kind", "version: 1\nviews:\n  - name: x\n    kind: table\n", []string{"line 4", `view "x"`, `kind "table"`}},
		{"bad name", "version: 1\nviews:\n  - name: Bad-Name\n    kind: history\n    aggregate: o\n", []string{"line 3", "lower-case"}},
		{"reserved name", "version: 1\nviews:\n  - name: offsets\n    kind: history\n    aggregate: o\n", []string{"reserved"}},
		{"duplicate", "version: 1\nviews:\n" + entity + entity, []string{"line 7", "duplicate view name"}},
		{"CEL syntax", "version: 1\nviews:\n  - name: order\n    kind: entity\n    aggregate: order\n    on: [{type: A, set: {x: 'data.x +'}}]\n",
			[]string{"line 6", `view "order"`, "on.set.x"}},
		{"index of unknown entity", "version: 1\nviews:\n" + entity + "  - name: p\n    kind: index\n    entity: nope\n    score: '1'\n",
			[]string{"line 9", `view "p"`, `entity "nope": no such view`}},
		{"index over non-entity", "version: 1\nviews:\n  - name: h\n    kind: history\n    aggregate: o\n  - name: p\n    kind: index\n    entity: h\n    score: '1'\n",
			[]string{"line 8", "is a history view"}},
		{"predicate not bool", "version: 1\nviews:\n" + entity + "  - name: p\n    kind: index\n    entity: order\n    when: state.x\n    score: '1'\n",
			[]string{"line 10", "when: result is string; want bool"}},
		{"predicate sees no data", "version: 1\nviews:\n" + entity + "  - name: p\n    kind: index\n    entity: order\n    when: data.x == 1\n    score: '1'\n",
			[]string{"line 10", "undeclared reference to 'data'"}},
		{"sum of double", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group: state.x\n    sums: [{name: s, expr: '1.5', scale: 2}]\n",
			[]string{"line 11", "result is double"}},
		{"sum scale", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group: state.x\n    sums: [{name: s, expr: '1', scale: 30}]\n",
			[]string{"sums.scale 30"}},
		{"key of other kind", "version: 1\nviews:\n" + entity + "  - name: h\n    kind: history\n    aggregate: o\n    score: '1'\n",
			[]string{"line 10", `key "score" does not apply to a history view`}},
		{"missing score", "version: 1\nviews:\n" + entity + "  - name: p\n    kind: index\n    entity: order\n",
			[]string{"line 7", `missing key "score"`}},
		{"two rules for a type", "version: 1\nviews:\n  - name: order\n    kind: entity\n    aggregate: order\n    on: [{type: A, set: {x: '1'}}, {type: A, set: {y: '1'}}]\n",
			[]string{`event type "A" has two rules`}},
		{"bad timezone", "version: 1\ntimezone: Mars/Olympus\nviews: []\n", []string{"line 2", "timezone"}},
		{"not yaml", "version: [1\n", []string{"view definitions"}},
		{"unknown view key", "version: 1\nviews:\n  - name: h\n    kind: history\n    aggregate: o\n    mx: 3\n",
			[]string{"line 6", `view "h"`, "unknown key views[0].mx (did you mean max?)"}},
		{"duplicate view key", "version: 1\nviews:\n  - name: h\n    kind: history\n    aggregate: o\n    aggregate: p\n",
			[]string{"line 6", `view "h"`, "views[0].aggregate: set twice in the same mapping"}},
		{"two documents", "version: 1\nviews: []\n---\nversion: 1\n", []string{"line 1", "want one YAML document"}},
		{"empty composite group", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group: []\n",
			[]string{"line 10", `view "a"`, "group: want at least one part"}},
		{"composite group part without expr", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group:\n      - {name: day, day: true}\n",
			[]string{"line 11", `view "a"`, `missing key "expr"`}},
		{"composite group part bad name", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group:\n      - {name: Day, expr: state.x}\n",
			[]string{"line 11", `group.name "Day"`}},
		{"composite group duplicate part", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group:\n      - {name: x, expr: state.x}\n      - {name: x, expr: state.x}\n",
			[]string{"line 12", `duplicate part name "x"`}},
		{"composite group part not a string", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group:\n      - {name: n, expr: '1'}\n",
			[]string{"line 11", "group.n: result is int"}},
		{"composite group day part not a time", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group:\n      - {name: day, expr: '1', day: true}\n",
			[]string{"line 11", "group.day: result is int"}},
		{"composite group with view-level day", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    day: true\n    group:\n      - {name: day, expr: state.x, day: true}\n",
			[]string{"line 10", "day: true on its day part, not on the view"}},
		{"composite group part unknown key", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group:\n      - {name: day, expr: state.x, dya: true}\n",
			[]string{"line 11", "(did you mean day?)"}},
		{"group a mapping", "version: 1\nviews:\n" + entity + "  - name: a\n    kind: aggregate\n    entity: order\n    group: {day: state.x}\n",
			[]string{"line 10", `view "a"`, "group: want an expression or a list of parts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDefinitions([]byte(tt.src))
			if err == nil {
				t.Fatalf("ParseDefinitions(%q) = nil error; want %q", tt.src, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseDefinitions error = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func FuzzParseDefinitions(f *testing.F) {
	src, err := os.ReadFile("testdata/orders.views.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(src)
	f.Add([]byte("version: 1\nviews: [{name: x, kind: history, aggregate: o}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDefinitions(b)
		if err == nil && d == nil {
			t.Fatal("ParseDefinitions returned neither definitions nor an error")
		}
	})
}

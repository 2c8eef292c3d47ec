package cep

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cdcflow/cdcflow/deploy/examples/orders"
	"github.com/cdcflow/cdcflow/pipeline"
)

func referenceRules(t *testing.T) *Rules {
	t.Helper()
	src, err := readReference()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules("cep.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// ordersWith is the reference mapping loaded with the schema files changed:
// a nil content removes the file.
func ordersWith(t *testing.T, change map[string][]byte) *pipeline.Mapping {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(orders.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(orders.Files, path)
		fsys[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range change {
		if b == nil {
			delete(fsys, path)
		} else {
			fsys[path] = &fstest.MapFile{Data: b}
		}
	}
	m, err := pipeline.Load(fsys, orders.MappingFile, pipeline.LoadOptions{})
	if err != nil {
		t.Fatalf("load the reference mapping: %v", err)
	}
	return m
}

func TestCheckSchemas(t *testing.T) {
	rs := referenceRules(t)
	overdue, err := fs.ReadFile(orders.Files, "schemas/OrderOverdue.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	changed := []byte(strings.Replace(string(overdue), "{", `{"description":"edited",`, 1))
	tests := []struct {
		name    string
		change  map[string][]byte
		missing []string
		err     string
	}{
		{name: "every schema written"},
		{name: "one not written yet", change: map[string][]byte{"schemas/OrderOverdue.v1.json": nil}, missing: []string{"OrderOverdue.v1.json"}},
		{name: "one edited", change: map[string][]byte{"schemas/OrderOverdue.v1.json": changed},
			err: `cep.yaml: schema OrderOverdue.v1.json differs from what rule "order_overdue" derives: a released version never changes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			derived, missing, err := rs.CheckSchemas(ordersWith(t, tt.change))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("CheckSchemas() error = %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckSchemas() error = %v", err)
			}
			var types []string
			for _, d := range derived {
				types = append(types, d.Type)
			}
			if slices.Sort(types); !slices.Equal(types, rs.DerivedTypes()) {
				t.Errorf("CheckSchemas() derived %q; want %q", types, rs.DerivedTypes())
			}
			if !slices.Equal(missing, tt.missing) {
				t.Errorf("CheckSchemas() missing %q; want %q", missing, tt.missing)
			}
		})
	}
}

func TestProblemLines(t *testing.T) {
	errs := RuleErrors{{File: "r.yaml", Line: 3, Rule: "a", Msg: "first"}, {File: "r.yaml", Rule: "b", Msg: "second"}}
	want := "r.yaml:3: rule \"a\": first\nr.yaml: rule \"b\": second"
	if got := ProblemLines(errs); got == nil || got.Error() != want {
		t.Errorf("ProblemLines(%v) = %v; want %q", errs, got, want)
	}
	other := fs.ErrNotExist
	if got := ProblemLines(other); got != other {
		t.Errorf("ProblemLines(%v) = %v; want it unchanged", other, got)
	}
	if got := ProblemLines(nil); got != nil {
		t.Errorf("ProblemLines(nil) = %v; want nil", got)
	}
}

func TestCatalogAndInputTopics(t *testing.T) {
	rs, m := referenceRules(t), loadMapping(t)
	for _, tt := range []struct{ topic, want string }{{"", m.Topic("cep")}, {"shop.derived", "shop.derived"}} {
		evs, err := rs.Catalog(m, tt.topic)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != len(rs.DerivedTypes()) {
			t.Fatalf("Catalog(%q) has %d entries; want one per derived type (%d)", tt.topic, len(evs), len(rs.DerivedTypes()))
		}
		for _, ev := range evs {
			if ev.Topic != tt.want || !strings.Contains(ev.Summary, "of cep.yaml") || len(ev.Schema) == 0 {
				t.Errorf("Catalog(%q) entry %s: topic %q, summary %q; want topic %q and the rule file named", tt.topic, ev.Type, ev.Topic, ev.Summary, tt.want)
			}
		}
	}
	if got, want := rs.InputTopics(m), []string{"shop.order"}; !slices.Equal(got, want) {
		t.Errorf("InputTopics() = %q; want %q", got, want)
	}
}

package pipeline

import (
	"bytes"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestShapeOf(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		path   []string // followed through Fields; the last must exist
		types  []string // of the last
		open   bool     // the last has no judged fields
	}{
		{"closed object", `{"type":"object","properties":{"a":{"type":"integer"}}}`, []string{"a"}, []string{"integer"}, true},
		{"nested", `{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":["string","null"]}}}}}`, []string{"a", "b"}, []string{"null", "string"}, true},
		{"object without properties", `{"type":"object"}`, nil, []string{"object"}, true},
		{"additionalProperties true", `{"type":"object","additionalProperties":true,"properties":{"a":{}}}`, nil, []string{"object"}, true},
		{"additionalProperties schema", `{"properties":{"a":{}},"additionalProperties":{"type":"string"}}`, nil, nil, true},
		{"additionalProperties false", `{"properties":{"a":{}},"additionalProperties":false}`, []string{"a"}, nil, true},
		{"allOf", `{"allOf":[{"properties":{"a":{}}}],"properties":{"b":{}}}`, nil, nil, true},
		{"$ref", `{"$ref":"#/definitions/x","properties":{"b":{}}}`, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(tt.schema)))
			if err != nil {
				t.Fatal(err)
			}
			s := shapeOf(doc, 0)
			for _, f := range tt.path {
				next, ok := s.Fields[f]
				if !ok {
					t.Fatalf("shapeOf(%s): no field %q in %v", tt.schema, f, s.Fields)
				}
				s = next
			}
			if !slices.Equal(s.Types, tt.types) {
				t.Errorf("shapeOf(%s) at %v: Types = %v; want %v", tt.schema, tt.path, s.Types, tt.types)
			}
			if (s.Fields == nil) != tt.open {
				t.Errorf("shapeOf(%s) at %v: Fields = %v; want open %v", tt.schema, tt.path, s.Fields, tt.open)
			}
		})
	}
}

func TestDataShape(t *testing.T) {
	m := loadMapping(t, referenceMapping, LoadOptions{})
	s, ok := m.DataShape("OrderRequested")
	if !ok {
		t.Fatal(`DataShape("OrderRequested"): not found`)
	}
	if f := s.Fields["total"]; f == nil || !slices.Equal(f.Types, []string{"string"}) {
		t.Errorf(`DataShape("OrderRequested").Fields["total"] = %+v; want a string`, f)
	}
	if f := s.Fields["lines"]; f == nil || !f.Allows("array") || f.Allows("object") {
		t.Errorf(`DataShape("OrderRequested").Fields["lines"] = %+v; want an array`, f)
	}
	if _, ok := m.DataShape("NoSuchEvent"); ok {
		t.Error(`DataShape("NoSuchEvent"): found; want not`)
	}
}

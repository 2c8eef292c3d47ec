package pipeline

import "slices"

// Shape is what a JSON Schema says about the shape of a value, as far as a
// static check of the expressions that read it can use it: the JSON types it
// allows and, for an object, its fields. It is derived from the schema's
// "type", "properties" and "additionalProperties" keywords only.
type Shape struct {
	// Types are the JSON types the schema allows ("object", "array",
	// "string", "integer", "number", "boolean", "null"), sorted; nil when
	// the schema does not restrict the type.
	Types []string
	// Fields are an object's properties, each with its own shape. Nil when
	// the fields cannot be judged: the schema names no properties, allows
	// additional ones (additionalProperties true or a schema, or
	// patternProperties), or combines schemas (allOf, anyOf, oneOf, $ref,
	// if), so that any field name may be valid.
	Fields map[string]*Shape
}

// Allows reports whether the shape allows values of the JSON type typ: true
// when Types is nil or names typ ("number" allows "integer" too).
func (s *Shape) Allows(typ string) bool {
	if s == nil || s.Types == nil {
		return true
	}
	return slices.Contains(s.Types, typ) || typ == "integer" && slices.Contains(s.Types, "number")
}

// DataShape returns the shape of the data of event type typ at the version
// the mapping's rules emit (the version views and consumers read, older
// versions being upcast to it). ok is false when the mapping does not produce
// typ or has no schema for that version.
func (m *Mapping) DataShape(typ string) (s *Shape, ok bool) {
	v, used := m.versions[typ]
	if !used {
		return nil, false
	}
	es := m.schemas.get(typ, v)
	if es == nil {
		return nil, false
	}
	return shapeOf(es.doc, 0), true
}

// maxShapeDepth bounds the recursion over a schema's nested properties.
const maxShapeDepth = 32

// shapeOf reads the shape of the decoded JSON Schema doc.
func shapeOf(doc any, depth int) *Shape {
	d, ok := doc.(map[string]any)
	if !ok || depth > maxShapeDepth {
		return &Shape{} // true, false or too deep: nothing to judge
	}
	s := &Shape{}
	switch t := d["type"].(type) {
	case string:
		s.Types = []string{t}
	case []any:
		for _, e := range t {
			if name, ok := e.(string); ok {
				s.Types = append(s.Types, name)
			}
		}
		slices.Sort(s.Types)
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf", "$ref", "if", "patternProperties"} {
		if _, open := d[k]; open {
			return s
		}
	}
	if ap, has := d["additionalProperties"]; has && ap != false {
		return s
	}
	props, ok := d["properties"].(map[string]any)
	if !ok || len(props) == 0 {
		return s
	}
	s.Fields = make(map[string]*Shape, len(props))
	for name, p := range props {
		s.Fields[name] = shapeOf(p, depth+1)
	}
	return s
}

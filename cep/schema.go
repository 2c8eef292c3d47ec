package cep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/cdcflow/cdcflow/internal/jsonx"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// DerivedSchema is the JSON Schema (draft-07) of the data of one derived
// event type and version, as a rule's emit or resolve builds it.
type DerivedSchema struct {
	Type          string
	Version       int
	AggregateType string // the rule's aggregate: the derived events' aggregate type
	Rule          string // the rule deriving it
	// File is the name a mapping's schemas directory expects:
	// <Type>.v<N>.json, so that a derived type is validated, upcast and
	// catalogued like a mapped one.
	File string
	// JSON is the schema document, indented, ending in a newline. The same
	// rules and input schemas always give the same bytes.
	JSON []byte
	// Unknown names the fields whose type could not be inferred (a CEL
	// expression of no fixed type that does not copy a field of a matched
	// event's schema): their schema accepts any value and says so.
	Unknown []string
}

// DerivedSchemas returns the schema of every type and version the rules
// derive, in file order (emit before resolve). Each field of the data is
// required (a derived event whose data cannot be built is not emitted) and
// no other field is allowed. A field's schema is inferred from its CEL
// expression: the result type the checker finds (count: an integer,
// deadline and window bounds: RFC 3339 times, decimal arithmetic: an exact
// decimal as text, the key: a string), or, for a copy of a matched event's
// attribute (matched.start.time, matched.expect.type) its envelope type, or,
// for a copy of a field of a matched event's data
// (matched.start.data.total), that field's schema in the current schema of
// the step's event types: one of the mapping's, or one derived by an earlier
// rule. Where those differ, any of them is allowed (anyOf); where none is
// known, any value is, and the field is listed in Unknown.
//
// Several rules deriving the same type and version must give it the same
// schema; otherwise DerivedSchemas returns an error naming both. It does no
// I/O; m may be nil (no input schemas: data copies are unknown).
func (rs *Rules) DerivedSchemas(m *pipeline.Mapping) ([]DerivedSchema, error) {
	g := newSchemaGen(m)
	var out []DerivedSchema
	seen := map[string]int{} // "Type vN" -> index in out
	for _, r := range rs.rules {
		for _, spec := range []*emitSpec{r.emit, r.resolve} {
			if spec == nil {
				continue
			}
			ds, err := g.schema(rs.file, r, spec)
			if err != nil {
				return nil, err
			}
			key := fmt.Sprintf("%s v%d", spec.typ, spec.version)
			if i, dup := seen[key]; dup {
				if !bytes.Equal(out[i].JSON, ds.JSON) {
					return nil, fmt.Errorf("cep rules %s: %s: rules %q and %q derive it with different data: give one of them another type or version",
						rs.file, key, out[i].Rule, r.name)
				}
				continue
			}
			seen[key] = len(out)
			out = append(out, ds)
			if _, mapped := g.docs[spec.typ]; !mapped {
				g.docs[spec.typ] = ds.JSON
			}
		}
	}
	return out, nil
}

// schemaGen infers derived schemas; docs holds the current schema of every
// type known so far (the mapping's, then each rule's derived ones).
type schemaGen struct {
	docs map[string]json.RawMessage
}

// newSchemaGen starts from the current schemas of m's event types.
func newSchemaGen(m *pipeline.Mapping) *schemaGen {
	g := &schemaGen{docs: map[string]json.RawMessage{}}
	if m == nil {
		return g
	}
	cur := map[string]int{}
	for _, et := range m.EventTypes() {
		cur[et.Type] = et.Version
	}
	for _, f := range m.SchemaFiles() {
		if v, ok := cur[f.Type]; ok && v == f.Version {
			g.docs[f.Type] = f.Content
		}
	}
	return g
}

// shapeOfDerived returns what Check needs of a derived schema: each field's JSON
// types (nil where any value is allowed); a field's own fields are not
// judged.
func shapeOfDerived(doc []byte) *pipeline.Shape {
	var d struct {
		Properties map[string]struct {
			Type json.RawMessage `json:"type"`
		} `json:"properties"`
	}
	s := &pipeline.Shape{Types: []string{"object"}, Fields: map[string]*pipeline.Shape{}}
	if err := json.Unmarshal(doc, &d); err != nil {
		return &pipeline.Shape{}
	}
	for name, p := range d.Properties {
		f := &pipeline.Shape{}
		var one string
		var many []string
		switch {
		case json.Unmarshal(p.Type, &one) == nil && one != "":
			f.Types = []string{one}
		case json.Unmarshal(p.Type, &many) == nil && len(many) > 0:
			f.Types = slices.Sorted(slices.Values(many))
		}
		s.Fields[name] = f
	}
	return s
}

func (g *schemaGen) schema(file string, r *rule, spec *emitSpec) (DerivedSchema, error) {
	byName := stepTypes(r)
	props := make(jsonObject, 0, len(spec.fields))
	required := make([]string, 0, len(spec.fields))
	var unknown []string
	for _, f := range spec.fields {
		s, known := g.fieldSchema(f.expr, byName)
		if !known {
			unknown = append(unknown, f.name)
		}
		props = append(props, jsonMember{f.name, s})
		required = append(required, f.name)
	}
	what := "derived"
	if spec == r.resolve {
		what = "resolving"
	}
	doc := jsonObject{
		{"$schema", "http://json-schema.org/draft-07/schema#"},
		{"$id", pipeline.DataSchemaURI(spec.typ, spec.version)},
		{"title", fmt.Sprintf("%s v%d", spec.typ, spec.version)},
		{"description", fmt.Sprintf("The %s event of CEP rule %s version %d (%s, aggregate %s) in %s; written by cdcflow schemas derived from the rule's data and the schemas of the events it matches.",
			what, r.name, r.version, r.kind, r.aggregate, baseName(file))},
		{"type", "object"},
		{"required", required},
		{"properties", props},
		{"additionalProperties", false},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // descriptions quote CEL: && and > as they are
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return DerivedSchema{}, fmt.Errorf("cep: schema of %s v%d: %w", spec.typ, spec.version, err)
	}
	return DerivedSchema{Type: spec.typ, Version: spec.version, AggregateType: r.aggregate, Rule: r.name,
		File: fmt.Sprintf("%s.v%d.json", spec.typ, spec.version), JSON: b.Bytes(), Unknown: unknown}, nil
}

// baseName is the last element of a slash- or backslash-separated path, so
// that a schema does not depend on where the rule file was read from.
func baseName(file string) string {
	return file[strings.LastIndexAny(file, `/\`)+1:]
}

// stepTypes returns, per name a rule's expressions read as matched.NAME, the
// event types that match may have.
func stepTypes(r *rule) map[string][]string {
	out := map[string][]string{}
	for _, s := range r.steps {
		out[s.name] = slices.Sorted(maps.Keys(s.types))
	}
	if r.kind == KindCount || r.kind == KindSum {
		out["first"], out["last"] = out["on"], out["on"]
	}
	return out
}

// Schemas of the values toJSON writes.
var (
	decimalSchema = jsonObject{{"type", "string"}, {"pattern", `^(-?[0-9]+(\.[0-9]+)?|NaN|-?Infinity)$`}, {"description", "exact decimal as text"}}
	timeSchema    = jsonObject{{"type", "string"}, {"format", "date-time"}, {"description", "RFC 3339, UTC"}}
)

// fieldSchema infers the schema of one data field from its expression.
func (g *schemaGen) fieldSchema(p *program, byName map[string][]string) (any, bool) {
	if s := celTypeSchema(p.out); s != nil {
		return s, true
	}
	path := selectPath(p.ast)
	if len(path) >= 2 && path[0] == "matched" {
		name, attr := path[1], ""
		if len(path) > 2 {
			attr = path[2]
		}
		switch {
		case len(path) == 2:
			return jsonObject{{"type", "object"}, {"description", "the matched event " + name + " (" + strings.Join(eventFields, ", ") + ")"}}, true
		case attr == "time" && len(path) == 3:
			return timeSchema, true
		case attr == "version" && len(path) == 3:
			return jsonObject{{"type", "integer"}}, true
		case attr != "data" && len(path) == 3:
			return jsonObject{{"type", "string"}}, true
		case attr == "data":
			if s, ok := g.dataSchema(byName[name], path[3:]); ok {
				return s, true
			}
		}
	}
	return jsonObject{{"description", fmt.Sprintf("computed by the CEL expression %q, whose type is not known: any value is accepted", p.src)}}, false
}

// dataSchema returns the schema of the data field path in the current
// schemas of types: the one schema they share, anyOf the different ones,
// or false when a type has no schema or does not describe the field.
func (g *schemaGen) dataSchema(typs []string, path []string) (any, bool) {
	var found []json.RawMessage
	for _, t := range typs {
		doc, ok := g.docs[t]
		if !ok {
			return nil, false
		}
		s, ok := subSchema(doc, path)
		if !ok {
			return nil, false
		}
		if len(path) == 0 {
			// The whole data: the schema without its document keywords
			// ($id would make it a resource of its own).
			if s, ok = withoutRootKeywords(s); !ok {
				return nil, false
			}
		}
		var c bytes.Buffer
		if err := json.Compact(&c, s); err != nil {
			return nil, false
		}
		if !slices.ContainsFunc(found, func(x json.RawMessage) bool { return bytes.Equal(x, c.Bytes()) }) {
			found = append(found, c.Bytes())
		}
	}
	switch len(found) {
	case 0:
		return nil, false
	case 1:
		return found[0], true
	}
	return jsonObject{{"anyOf", found}}, true
}

// subSchema walks properties down path in the schema doc.
func subSchema(doc json.RawMessage, path []string) (json.RawMessage, bool) {
	for _, f := range path {
		var obj struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(doc, &obj); err != nil {
			return nil, false
		}
		next, ok := obj.Properties[f]
		if !ok {
			return nil, false
		}
		doc = next
	}
	return doc, true
}

// withoutRootKeywords returns the schema doc without $schema and $id.
func withoutRootKeywords(doc json.RawMessage) (json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, false
	}
	delete(m, "$schema")
	delete(m, "$id")
	b, err := json.Marshal(m)
	if err != nil {
		return nil, false
	}
	return b, true
}

// celTypeSchema is the schema of what toJSON writes for a value of type t;
// nil for dyn and other types it cannot tell.
func celTypeSchema(t *cel.Type) jsonObject {
	switch {
	case t == nil, t.IsExactType(cel.DynType):
		return nil
	case t.IsExactType(cel.IntType), t.IsExactType(cel.UintType):
		return jsonObject{{"type", "integer"}}
	case t.IsExactType(cel.DoubleType):
		return jsonObject{{"type", []string{"number", "string"}}, {"pattern", "^(NaN|[+-]Inf)$"}, {"description", "a number; NaN and infinities as strings"}}
	case t.IsExactType(cel.StringType):
		return jsonObject{{"type", "string"}}
	case t.IsExactType(cel.BoolType):
		return jsonObject{{"type", "boolean"}}
	case t.IsExactType(cel.BytesType):
		return jsonObject{{"type", "string"}, {"contentEncoding", "base64"}}
	case t.IsExactType(cel.TimestampType):
		return timeSchema
	case t.IsExactType(cel.DurationType):
		return jsonObject{{"type", "string"}, {"description", "a duration as Go writes it (1h30m0s)"}}
	case t.IsExactType(decimal.Type):
		return decimalSchema
	case t.IsExactType(cel.NullType):
		return jsonObject{{"type", "null"}}
	case t.Kind() == types.ListKind:
		return jsonObject{{"type", "array"}}
	case t.Kind() == types.MapKind:
		return jsonObject{{"type", "object"}}
	}
	return nil
}

// selectPath returns the constant path of an expression that only selects
// fields of a variable (matched.start.data["total"] gives [matched start
// data total]); nil for any other expression.
func selectPath(a *cel.Ast) []string {
	if a == nil {
		return nil
	}
	var rev []string
	e := ast.NavigateAST(a.NativeRep())
	for {
		switch e.Kind() {
		case ast.IdentKind:
			out := []string{e.AsIdent()}
			for i := len(rev) - 1; i >= 0; i-- {
				out = append(out, rev[i])
			}
			return out
		case ast.SelectKind:
			sel := e.AsSelect()
			if sel.IsTestOnly() {
				return nil
			}
			rev = append(rev, sel.FieldName())
			e = navigate(e, sel.Operand())
		case ast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if call.FunctionName() != operators.Index || len(args) != 2 || args[1].Kind() != ast.LiteralKind {
				return nil
			}
			lit, ok := args[1].AsLiteral().(types.String)
			if !ok {
				return nil
			}
			rev = append(rev, string(lit))
			e = navigate(e, args[0])
		default:
			return nil
		}
		if e == nil {
			return nil
		}
	}
}

// navigate returns the navigable child of e that is x.
func navigate(e ast.NavigableExpr, x ast.Expr) ast.NavigableExpr {
	for _, c := range e.Children() {
		if c.ID() == x.ID() {
			return c
		}
	}
	return nil
}

// jsonObject is a JSON object whose members keep their order, so that
// schemas read in a natural order ($schema, title, type, properties).
type jsonObject []jsonMember

type jsonMember struct {
	key string
	val any
}

// MarshalJSON writes the members in order.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	return jsonx.MarshalObject(len(o), func(i int) (string, any) { return o[i].key, o[i].val })
}

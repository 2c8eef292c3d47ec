package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/jsonx"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// DraftColumn is what DraftSchemas knows of one source column: its type as
// the live catalog names it, and the facts that decide whether a field may be
// null or left out.
type DraftColumn struct {
	// Type is the type's name as capture.Column.TypeName spells it: "int4",
	// "numeric", "_text" for text[], an enum's own name, a domain's base type.
	Type string
	// NotNull is true when the column, or its domain, is NOT NULL.
	NotNull bool
	// Enum lists the labels of an enum type in their order (of the element
	// type, for an array of an enum); nil for other types.
	Enum []string
	// Toastable is true when PostgreSQL may store the value out of line
	// (attstorage other than plain): an update that leaves it unchanged may
	// then not send it, and the fields computed from it are left out.
	Toastable bool
}

// DraftTables holds the live columns of the tables a mapping reads, by table
// and column name (as the catalog spells them).
type DraftTables map[TableName]map[string]DraftColumn

// DraftSchema is the draft JSON Schema of one event type's current version.
type DraftSchema struct {
	Type    string
	Version int
	// File is the name the schemas directory expects: <Type>.v<N>.json.
	File string
	// JSON is the schema document, indented, ending in a newline.
	JSON []byte
	// Unknown names the fields (a gathered list's as list.field) whose type
	// the column types do not decide: a CEL expression without a fixed
	// result type. Their schema accepts any value and says so.
	Unknown []string
}

// Patterns the drafts share with the hand-written reference schemas (the
// validator's fast path matches these two by hand).
const (
	draftDecimalPattern   = `^(-?[0-9]+(\.[0-9]+)?|NaN|-?Infinity)$`
	draftLocalTimePattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$`
)

// DraftSchemas derives a JSON Schema (draft-07) for the current version of
// every event type the mapping emits, from the live column types its rules
// read, so that a new mapping can start validating. A field copied from a
// column (row.col, old.col) takes the column's encoding in event data (see
// docs/events.md); a CEL expression takes the type the CEL checker finds for
// it (string(...), a comparison, decimal arithmetic), or, when it has none,
// a schema that accepts anything and says why. A field is required unless an
// update may leave it out (it reads a column PostgreSQL may not send when
// unchanged), and allows null when its column is nullable. Several rules of
// one type are merged: a field in every rule with one schema keeps it.
//
// DraftSchemas is pure and deterministic; it fails, naming the rule, when a
// table or column the mapping reads is not in tables.
func (m *Mapping) DraftSchemas(tables DraftTables) ([]DraftSchema, error) {
	byType := map[string][]*ruleDraft{}
	var order []string
	var errs []string
	for _, t := range m.order {
		rules := t.events
		if t.state != nil {
			rules = append([]*eventRule{t.state}, rules...)
		}
		for _, r := range rules {
			d, err := m.draftRule(t, r, r == t.state, tables)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			if byType[r.typ] == nil {
				order = append(order, r.typ)
			}
			byType[r.typ] = append(byType[r.typ], d)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("draft schemas:\n%s", strings.Join(errs, "\n"))
	}
	slices.Sort(order)
	out := make([]DraftSchema, 0, len(order))
	for _, typ := range order {
		s, err := m.draftType(typ, byType[typ])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ruleDraft is the data schema one rule implies.
type ruleDraft struct {
	rule      *eventRule
	obj       *objectDraft
	leaveOuts bool // some field may be left out as unchanged
}

// objectDraft is an event's data, or a gathered item: fields in rule order.
type objectDraft struct {
	names    []string
	props    map[string]jsonObj
	required map[string]bool
	unknown  []string
}

// draftRule drafts the data of rule r of table t.
func (m *Mapping) draftRule(t *tableInfo, r *eventRule, state bool, tables DraftTables) (*ruleDraft, error) {
	cols, ok := tables[t.name]
	if !ok {
		return nil, fmt.Errorf("%s:%d: rule %s: table %s is not among the live tables", m.file, r.line, r.name, t.name)
	}
	updates := !state && (r.when == nil || r.when.ops == 0 || r.when.ops&(1<<capture.OpUpdate) != 0)
	obj, leaveOuts, err := m.draftFields(r.name, r.fields, cols, t.name, updates)
	if err != nil {
		return nil, err
	}
	for _, g := range r.gathers {
		gcols, ok := tables[g.table]
		if !ok {
			return nil, fmt.Errorf("%s:%d: rule %s: table %s is not among the live tables", m.file, g.line, g.rule, g.table)
		}
		gUpdates := g.when == nil || g.when.ops == 0 || g.when.ops&(1<<capture.OpUpdate) != 0
		item, itemLeaveOuts, err := m.draftFields(g.rule, g.fields, gcols, g.table, gUpdates)
		if err != nil {
			return nil, err
		}
		for _, u := range item.unknown {
			obj.unknown = append(obj.unknown, g.field+"."+u)
		}
		obj.names = append(obj.names, g.field)
		obj.props[g.field] = jsonObj{{"type", "array"}, {"items", item.schema(itemLeaveOuts)}}
		// A snapshot row never gathers: its event has no list.
		obj.required[g.field] = !state
	}
	return &ruleDraft{rule: r, obj: obj, leaveOuts: leaveOuts}, nil
}

// draftFields drafts the fields of a rule over the columns cols of table.
// updates says whether the rule can fire on an update, when unchanged TOAST
// values leave fields out.
func (m *Mapping) draftFields(rule string, fields []*field, cols map[string]DraftColumn, table TableName, updates bool) (*objectDraft, bool, error) {
	obj := &objectDraft{props: map[string]jsonObj{}, required: map[string]bool{}}
	leaveOuts := false
	for _, f := range fields {
		var s jsonObj
		col := f.prg.column
		if col == "" {
			col = f.prg.oldColumn
		}
		if col != "" {
			c, ok := cols[col]
			if !ok {
				return nil, false, fmt.Errorf("%s:%d: rule %s: field %s: table %s has no column %q", m.file, f.prg.line, rule, f.name, table, col)
			}
			s = columnSchema(c, f.asString)
		} else {
			var known bool
			if s, known = celSchema(f.prg, f.asString); !known {
				obj.unknown = append(obj.unknown, f.name)
			}
		}
		left := false
		if updates {
			for _, ref := range f.prg.refs {
				if c, ok := cols[ref.name]; ok && !ref.old && !ref.probe && c.Toastable {
					left = true
				}
			}
		}
		leaveOuts = leaveOuts || left
		obj.names = append(obj.names, f.name)
		obj.props[f.name] = s
		obj.required[f.name] = !left
	}
	return obj, leaveOuts, nil
}

// schema returns the object schema of o; with leaveOuts it declares the
// "unchanged" list the mapper writes when it leaves fields out.
func (o *objectDraft) schema(leaveOuts bool) jsonObj {
	var req []string
	props := make(jsonObj, 0, len(o.names)+1)
	for _, n := range o.names {
		if o.required[n] {
			req = append(req, n)
		}
		props = append(props, jsonField{n, o.props[n]})
	}
	if leaveOuts {
		props = append(props, jsonField{"unchanged", jsonObj{
			{"type", "array"}, {"items", jsonObj{{"type", "string"}}},
			{"description", "fields left out because their TOASTed column did not change"},
		}})
	}
	s := jsonObj{{"type", "object"}}
	if len(req) > 0 {
		s = append(s, jsonField{"required", req})
	}
	return append(s, jsonField{"properties", props}, jsonField{"additionalProperties", false})
}

// draftType merges the rules of one event type into its schema document.
func (m *Mapping) draftType(typ string, rules []*ruleDraft) (DraftSchema, error) {
	first := rules[0]
	merged := &objectDraft{props: map[string]jsonObj{}, required: map[string]bool{}}
	leaveOuts := false
	var where []string
	for _, rd := range rules {
		leaveOuts = leaveOuts || rd.leaveOuts
		where = append(where, fmt.Sprintf("%s (line %d)", rd.rule.name, rd.rule.line))
		for _, n := range rd.obj.names {
			if _, seen := merged.props[n]; !seen {
				merged.names = append(merged.names, n)
				merged.props[n] = rd.obj.props[n]
				merged.required[n] = rd.obj.required[n]
				continue
			}
			a, _ := json.Marshal(merged.props[n])
			b, _ := json.Marshal(rd.obj.props[n])
			if !bytes.Equal(a, b) {
				merged.props[n] = jsonObj{{"description", "rules of " + typ + " write this field with different types: give its schema by hand"}}
				merged.unknown = append(merged.unknown, n)
			}
			merged.required[n] = merged.required[n] && rd.obj.required[n]
		}
		merged.unknown = append(merged.unknown, rd.obj.unknown...)
	}
	// A field some rule does not write is not required.
	for _, n := range merged.names {
		for _, rd := range rules {
			if _, ok := rd.obj.props[n]; !ok {
				merged.required[n] = false
			}
		}
	}
	slices.Sort(merged.unknown)
	merged.unknown = slices.Compact(merged.unknown)
	v := first.rule.version
	doc := jsonObj{
		{"$schema", "http://json-schema.org/draft-07/schema#"},
		{"$id", DataSchemaURI(typ, v)},
		{"title", fmt.Sprintf("%s v%d", typ, v)},
		{"description", fmt.Sprintf("Draft written by cdcflow schemas draft from %s, rule %s, and the live column types. Review it before the first event is released: a released version's schema never changes.",
			m.file, strings.Join(where, ", "))},
	}
	doc = append(doc, merged.schema(leaveOuts)...)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // descriptions quote CEL: && and > as they are
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return DraftSchema{}, fmt.Errorf("draft schema of %s: %w", typ, err)
	}
	return DraftSchema{Type: typ, Version: v, File: schemaFileName(typ, v), JSON: b.Bytes(), Unknown: merged.unknown}, nil
}

// columnSchema is the schema of a field copied from column c: the value's
// encoding in event data, null allowed when the column is nullable.
func columnSchema(c DraftColumn, asString bool) jsonObj {
	var s jsonObj
	if elem, ok := strings.CutPrefix(c.Type, "_"); ok && elem != "" {
		// Array elements may be NULL whatever the column's constraints.
		s = jsonObj{{"type", "array"}, {"items", nullable(scalarSchema(elem, c.Enum, asString))}}
	} else {
		s = scalarSchema(c.Type, c.Enum, asString)
	}
	if !c.NotNull {
		s = nullable(s)
	}
	return s
}

// scalarSchema is the schema of a value of the named non-array type, as
// docs/events.md says it is written.
func scalarSchema(typ string, enum []string, asString bool) jsonObj {
	switch typ {
	case "int2", "int4", "int8", "oid":
		if asString {
			return jsonObj{{"type", "string"}, {"pattern", `^-?[0-9]+$`}, {"description", "integer as text"}}
		}
		return jsonObj{{"type", "integer"}}
	case "numeric", "money":
		return decimalSchema()
	case "float4", "float8":
		return doubleSchema(asString)
	case "bool":
		return jsonObj{{"type", "boolean"}}
	case "date":
		return jsonObj{{"type", "string"}, {"description", "date, ISO 8601 (2026-11-23); infinity, -infinity and years outside 1-9999 as PostgreSQL prints them"}}
	case "timestamp":
		return jsonObj{{"type", "string"}, {"pattern", draftLocalTimePattern}, {"description", "local date-time in the source's time zone, without offset"}}
	case "timestamptz":
		return jsonObj{{"type", "string"}, {"format", "date-time"}}
	case "time", "timetz":
		return jsonObj{{"type", "string"}, {"description", "time of day, ISO 8601"}}
	case "interval":
		return jsonObj{{"type", "string"}, {"description", "interval, ISO 8601 duration"}}
	case "json", "jsonb":
		return jsonObj{{"description", "the column's JSON value, embedded"}}
	case "bytea":
		return jsonObj{{"type", "string"}, {"contentEncoding", "base64"}}
	case "uuid":
		return jsonObj{{"type", "string"}, {"pattern", `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`}}
	}
	if len(enum) > 0 {
		return jsonObj{{"type", "string"}, {"enum", slices.Clone(enum)}}
	}
	// text, varchar, char, name and every type cdcflow passes as text.
	return jsonObj{{"type", "string"}}
}

func decimalSchema() jsonObj {
	return jsonObj{{"type", "string"}, {"pattern", draftDecimalPattern}, {"description", "exact decimal as text"}}
}

func doubleSchema(asString bool) jsonObj {
	if asString {
		return jsonObj{{"type", "string"}, {"description", "number as text; NaN, Infinity, -Infinity"}}
	}
	return jsonObj{{"type", []string{"number", "string"}}, {"pattern", "^(NaN|-?Infinity)$"}, {"description", "a number; NaN, Infinity and -Infinity as strings"}}
}

// celSchema is the schema of a field a CEL expression computes, from the
// result type the checker found; known is false when it found none.
func celSchema(p *program, asString bool) (s jsonObj, known bool) {
	out := p.out
	switch {
	case out == nil:
	case out.IsExactType(cel.IntType), out.IsExactType(cel.UintType):
		return scalarSchema("int8", nil, asString), true
	case out.IsExactType(cel.DoubleType):
		return doubleSchema(asString), true
	case out.IsExactType(cel.StringType):
		return jsonObj{{"type", "string"}}, true
	case out.IsExactType(cel.BoolType):
		return jsonObj{{"type", "boolean"}}, true
	case out.IsExactType(cel.BytesType):
		return scalarSchema("bytea", nil, false), true
	case out.IsExactType(cel.TimestampType):
		return scalarSchema("timestamptz", nil, false), true
	case out.IsExactType(cel.DurationType):
		return scalarSchema("interval", nil, false), true
	case out.IsExactType(decimal.Type):
		return decimalSchema(), true
	}
	return jsonObj{{"description", fmt.Sprintf("computed by the CEL expression %q, whose type the column types do not decide: any value is accepted; replace this with the field's schema", p.src)}}, false
}

// nullable returns s allowing null too.
func nullable(s jsonObj) jsonObj {
	out := make(jsonObj, 0, len(s))
	typed := false
	for _, f := range s {
		switch f.key {
		case "type":
			typed = true
			switch t := f.val.(type) {
			case string:
				f.val = []string{t, "null"}
			case []string:
				f.val = append(slices.Clone(t), "null")
			}
		case "enum":
			e := []any{}
			for _, l := range f.val.([]string) {
				e = append(e, l)
			}
			f.val = append(e, nil)
		}
		out = append(out, f)
	}
	if !typed {
		return s // no type: null is allowed already
	}
	return out
}

// jsonObj is a JSON object whose keys keep their order, so that drafts read
// in a fixed, natural order ($schema, title, type, properties ...).
type jsonObj []jsonField

type jsonField struct {
	key string
	val any
}

// MarshalJSON writes the fields in order.
func (o jsonObj) MarshalJSON() ([]byte, error) {
	return jsonx.MarshalObject(len(o), func(i int) (string, any) { return o[i].key, o[i].val })
}

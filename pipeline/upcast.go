package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"

	"github.com/cdcflow/cdcflow/internal/jsonx"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// upcaster turns the data of one event type from version from to from+1: it
// copies the data, removes the fields in remove and sets those in set, whose
// CEL expressions see the old data as `data`.
type upcaster struct {
	typ    string
	from   int
	line   int
	set    []*field
	remove []string
}

// upcasters holds a mapping's upcasters by type and source version.
type upcasters struct {
	env *cel.Env
	by  map[string]map[int]*upcaster
}

func (u *upcasters) get(typ string, from int) *upcaster {
	if u == nil {
		return nil
	}
	return u.by[typ][from]
}

func newUpcastEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("data", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
		decimal.Library(),
	)
}

func (c *compiler) upcasters(docs []upcasterDoc) *upcasters {
	env, err := newUpcastEnv()
	if err != nil {
		c.p.add(0, "", "build the upcaster CEL environment: %v", err)
		return nil
	}
	us := &upcasters{env: env, by: map[string]map[int]*upcaster{}}
	ruleEnv := c.env
	c.env = env
	defer func() { c.env = ruleEnv }()
	for _, d := range docs {
		if d.typ.text == "" {
			continue
		}
		rule := fmt.Sprintf("upcaster %s v%d->v%d", d.typ.text, d.from, d.from+1)
		if d.from < 1 {
			c.p.add(d.line, rule, "from must be 1 or more")
			continue
		}
		if us.by[d.typ.text][d.from] != nil {
			c.p.add(d.line, rule, "declared twice")
			continue
		}
		u := &upcaster{typ: d.typ.text, from: d.from, line: d.line}
		u.set = c.fields(nil, rule, d.set)
		for _, r := range d.remove {
			u.remove = append(u.remove, r.text)
		}
		if c.m.schemas != nil {
			for _, v := range []int{d.from, d.from + 1} {
				if c.m.schemas.get(d.typ.text, v) == nil {
					c.p.add(d.line, rule, "no schema %s", schemaFileName(d.typ.text, v))
				}
			}
		}
		if us.by[u.typ] == nil {
			us.by[u.typ] = map[int]*upcaster{}
		}
		us.by[u.typ][u.from] = u
	}
	return us
}

// Upcast returns e with its data turned into the current version of its type
// (the version the mapping's rules emit), applying the upcasters step by step.
// An event already current, a control event and a dead letter are returned
// as they are. Upcast is safe for concurrent use.
func (m *Mapping) Upcast(e Event) (Event, error) {
	if e.Control != NotControl || e.DeadLetter {
		return e, nil
	}
	cur, ok := m.versions[e.Type]
	if !ok {
		return e, fmt.Errorf("upcast %s: the mapping has no event type %q", fmtType(e.Type, e.Version), e.Type)
	}
	if e.Version > cur {
		return e, fmt.Errorf("upcast %s: version is newer than the mapping's current %d", fmtType(e.Type, e.Version), cur)
	}
	for e.Version < cur {
		data, err := m.upcastStep(e.Type, e.Version, e.Data)
		if err != nil {
			return e, err
		}
		e.Data = data
		e.Version++
	}
	return e, nil
}

// upcastStep turns data of typ at version v into version v+1.
func (m *Mapping) upcastStep(typ string, v int, data []byte) ([]byte, error) {
	u := m.upcast.get(typ, v)
	if u == nil {
		return nil, fmt.Errorf("upcast %s: no upcaster from version %d", fmtType(typ, v), v)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("upcast %s: data is not a JSON object: %w", fmtType(typ, v), err)
	}
	dataVal, err := jsonToCEL(data)
	if err != nil {
		return nil, fmt.Errorf("upcast %s: %w", fmtType(typ, v), err)
	}
	act := map[string]any{"data": dataVal}
	for _, r := range u.remove {
		delete(fields, r)
	}
	for _, f := range u.set {
		out, _, err := f.prg.prg.Eval(act)
		if err != nil {
			return nil, fmt.Errorf("upcast %s: field %s: %w", fmtType(typ, v), f.name, err)
		}
		b, err := appendCELJSON(nil, out, f.asString, m.loc)
		if err != nil {
			return nil, fmt.Errorf("upcast %s: field %s: %w", fmtType(typ, v), f.name, err)
		}
		fields[f.name] = b
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, k)
		b = append(b, ':')
		b = append(b, fields[k]...)
	}
	return append(b, '}'), nil
}

// jsonToCEL decodes JSON into a CEL value; integers stay exact ints, other
// numbers become doubles.
func jsonToCEL(data []byte) (ref.Val, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return nativeJSONToCEL(v), nil
}

func nativeJSONToCEL(v any) ref.Val {
	switch x := v.(type) {
	case nil:
		return types.NullValue
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := x.Int64(); err == nil {
				return types.Int(i)
			}
		}
		f, _ := x.Float64()
		return types.Double(f)
	case string:
		return types.String(x)
	case bool:
		return types.Bool(x)
	case []any:
		elems := make([]ref.Val, len(x))
		for i, e := range x {
			elems[i] = nativeJSONToCEL(e)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, elems)
	case map[string]any:
		m := make(map[ref.Val]ref.Val, len(x))
		for k, e := range x {
			m[types.String(k)] = nativeJSONToCEL(e)
		}
		return types.NewRefValMap(types.DefaultTypeAdapter, m)
	}
	return types.NewErr("unexpected JSON value %T", v)
}

package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// This file proves a mapping's version chains: every recorded or generated
// instance of every version, upcast one step at a time, must validate against
// each next version. It also answers the optional FORWARD question: can a
// consumer still on version n-1 read what version n producers write?

// instance is one event data used by the checks, with where it came from.
type instance struct {
	from string // "examples/OrderRequested.v1.json" or "generated from OrderRequested.v1.json"
	data []byte
}

// instances returns the recorded examples of typ at version v and one
// instance generated from its schema.
func (s *schemaSet) instances(typ string, v int) ([]instance, error) {
	var out []instance
	for _, ex := range s.examples[typ][v] {
		out = append(out, instance{from: ex.file, data: ex.data})
	}
	es := s.get(typ, v)
	if es == nil {
		return out, nil
	}
	gen, err := json.Marshal(generate(es.doc))
	if err != nil {
		return out, fmt.Errorf("generate an instance of %s: %w", fmtType(typ, v), err)
	}
	if s.validate(typ, v, gen) != nil {
		if len(out) == 0 {
			return out, fmt.Errorf("%s: cannot generate a valid instance from the schema: add one under %s/examples/", fmtType(typ, v), s.dir)
		}
		return out, nil
	}
	return append(out, instance{from: "generated from " + es.file, data: gen}), nil
}

// CheckUpcasts proves every version chain of the mapping: each instance of
// each version (the recorded examples in the schemas' examples/ directory and
// one generated from the schema) must validate against its own version and,
// upcast step by step, against every later version up to the current one. It
// returns every failure, joined; nil when all chains hold or the mapping has
// no schemas.
func (m *Mapping) CheckUpcasts() error {
	if m.schemas == nil {
		return nil
	}
	var errs []error
	for _, typ := range m.schemas.types() {
		cur, used := m.versions[typ]
		if !used {
			continue
		}
		for _, v := range m.schemas.versions(typ) {
			insts, err := m.schemas.instances(typ, v)
			if err != nil {
				errs = append(errs, err)
			}
			for _, in := range insts {
				if err := m.schemas.validate(typ, v, in.data); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", in.from, err))
					continue
				}
				data := in.data
				for step := v; step < cur; step++ {
					next, err := m.upcastStep(typ, step, data)
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", in.from, err))
						break
					}
					if err := m.schemas.validate(typ, step+1, next); err != nil {
						errs = append(errs, fmt.Errorf("%s upcast to version %d: %w", in.from, step+1, err))
						break
					}
					data = next
				}
			}
		}
	}
	return errors.Join(errs...)
}

// CheckForward says whether each version of each event type is FORWARD
// compatible with the version before it: whether consumers still reading
// version n-1 accept the data version n producers write. It tries the
// instances of version n (recorded, generated, and those of n-1 upcast)
// against the schema of n-1 and returns the instances it rejects, joined;
// nil when every version is forward compatible. Forward compatibility is
// optional: a type whose consumers upcast need not have it.
func (m *Mapping) CheckForward() error {
	if m.schemas == nil {
		return nil
	}
	var errs []error
	for _, typ := range m.schemas.types() {
		vs := m.schemas.versions(typ)
		for i := 1; i < len(vs); i++ {
			prev, v := vs[i-1], vs[i]
			insts, _ := m.schemas.instances(typ, v)
			older, _ := m.schemas.instances(typ, prev)
			for _, in := range older {
				if up, err := m.upcastStep(typ, prev, in.data); err == nil && prev+1 == v {
					insts = append(insts, instance{from: in.from + " upcast", data: up})
				}
			}
			for _, in := range insts {
				if err := m.schemas.validate(typ, prev, in.data); err != nil {
					errs = append(errs, fmt.Errorf("%s is not forward compatible with version %d: %s: %w", fmtType(typ, v), prev, in.from, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// generate builds a value that fits a JSON Schema as far as simple rules go:
// examples, const, enum and default first, then a value of the first
// non-null type, with every property of an object and one item in an array.
func generate(schema any) any {
	return gen(schema, 0)
}

func gen(schema any, depth int) any {
	s, ok := schema.(map[string]any)
	if !ok || depth > 16 {
		return nil
	}
	if ex, ok := s["examples"].([]any); ok && len(ex) > 0 {
		return ex[0]
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if d, ok := s["default"]; ok {
		return d
	}
	typ := ""
	switch t := s["type"].(type) {
	case string:
		typ = t
	case []any:
		for _, x := range t {
			if xs, ok := x.(string); ok && xs != "null" {
				typ = xs
				break
			}
		}
	}
	switch typ {
	case "object":
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k == "unchanged" {
				continue
			}
			out[k] = gen(props[k], depth+1)
		}
		return out
	case "array":
		return []any{gen(s["items"], depth+1)}
	case "string":
		return genString(s)
	case "integer":
		if min, ok := s["minimum"].(json.Number); ok {
			return min
		}
		return json.Number("1")
	case "number":
		return json.Number("1.5")
	case "boolean":
		return true
	}
	return nil
}

// genString returns a string meeting a string schema's format or pattern, from
// a few candidates in the shapes cdcflow writes.
func genString(s map[string]any) string {
	switch s["format"] {
	case "date-time":
		return "2026-01-01T00:00:00.000000Z"
	case "date":
		return "2026-01-01"
	}
	candidates := []string{"text", "12.50", "1", "2026-01-01T00:00:00.000000", "2026-01-01", "PT1S", "EUR"}
	if p, ok := s["pattern"].(string); ok {
		if re, err := regexp.Compile(p); err == nil {
			for _, c := range candidates {
				if re.MatchString(c) {
					return c
				}
			}
		}
	}
	out := candidates[0]
	if n, ok := s["minLength"].(json.Number); ok {
		if k, err := n.Int64(); err == nil && k > int64(len(out)) && k < 1<<16 {
			out += strings.Repeat("x", int(k)-len(out))
		}
	}
	return out
}

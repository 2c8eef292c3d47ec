package pipeline

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// decodeForSchema decodes JSON into the values the schema validator reads:
// map[string]any, []any, string, json.Number, bool and nil, as
// jsonschema.UnmarshalJSON does, with fewer allocations. Validation decodes
// every event the mapper writes, so this is on the hot path.
func decodeForSchema(data []byte) (any, error) {
	d := jsonDecoder{b: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.b) {
		return nil, errBadJSON
	}
	return v, nil
}

var errBadJSON = errors.New("invalid JSON")

// maxJSONDepth bounds nesting, as encoding/json does.
const maxJSONDepth = 10000

type jsonDecoder struct {
	b []byte
	i int
}

func (d *jsonDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips space and consumes c, reporting whether it was there.
func (d *jsonDecoder) next(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *jsonDecoder) value(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("invalid JSON: nested too deeply")
	}
	d.space()
	if d.i >= len(d.b) {
		return nil, errBadJSON
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.i++
		m := map[string]any{}
		if d.next('}') {
			return m, nil
		}
		for {
			d.space()
			k, err := d.str()
			if err != nil {
				return nil, err
			}
			if !d.next(':') {
				return nil, errBadJSON
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k] = v
			if d.next('}') {
				return m, nil
			}
			if !d.next(',') {
				return nil, errBadJSON
			}
		}
	case c == '[':
		d.i++
		l := []any{}
		if d.next(']') {
			return l, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			if d.next(']') {
				return l, nil
			}
			if !d.next(',') {
				return nil, errBadJSON
			}
		}
	case c == '"':
		return d.str()
	case c == 't':
		return d.literal("true", true)
	case c == 'f':
		return d.literal("false", false)
	case c == 'n':
		return d.literal("null", nil)
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, errBadJSON
}

func (d *jsonDecoder) literal(s string, v any) (any, error) {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return nil, errBadJSON
	}
	d.i += len(s)
	return v, nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? as a json.Number.
func (d *jsonDecoder) number() (any, error) {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return nil, errBadJSON
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, errBadJSON
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, errBadJSON
		}
	}
	return json.Number(d.b[start:d.i]), nil
}

// str reads a string. The common case, without escapes, is one conversion;
// strings with escapes are left to encoding/json.
func (d *jsonDecoder) str() (string, error) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", errBadJSON
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		if c == '"' {
			if s := d.b[start:j]; utf8.Valid(s) {
				d.i = j + 1
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	end := start
	for end < len(d.b) && d.b[end] != '"' {
		if d.b[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(d.b) {
		return "", errBadJSON
	}
	var s string
	if err := json.Unmarshal(d.b[d.i:end+1], &s); err != nil {
		return "", errBadJSON
	}
	d.i = end + 1
	return s, nil
}

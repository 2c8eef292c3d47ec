package jsonx

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Decode decodes JSON event data for expressions (CEL): objects as
// map[string]any, arrays as []any, integers without a fraction or exponent
// that fit int64 as int64 (exact, unlike encoding/json's float64), other
// numbers as float64 (±Inf past its range), strings, bools and null; empty
// data (or only white space) as an empty object. The usual data (ASCII
// without escapes, nested at most 64 deep) is read by a parser of its own
// that builds nothing else; anything else goes to encoding/json with
// UseNumber, which gives the same value or the error. Decimals are strings
// in event data: callers convert them where an expression asks.
func Decode[T ~string | ~[]byte](data T) (any, error) {
	if blank(data) {
		return map[string]any{}, nil
	}
	if v, ok := fastValue(data); ok {
		return v, nil
	}
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

// blank reports whether s is only white space (as strings.TrimSpace sees
// it), without copying s.
func blank[T ~string | ~[]byte](s T) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || '\t' <= c && c <= '\r':
		case c >= 0x80:
			return strings.TrimSpace(string(s[i:])) == ""
		default:
			return false
		}
	}
	return true
}

// numbers turns encoding/json's numbers in v into Decode's (in place).
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := x.Int64(); err == nil {
				return i
			}
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}

// Member is one top-level member of an object for Members: Name is asked
// for, Value and Found are what the object holds.
type Member struct {
	Name  string
	Value any
	Found bool
}

// fastValue decodes event data as Decode does (objects as map[string]any,
// arrays as []any, integers without a fraction or exponent that fit int64
// as int64, other numbers as float64, strings, bools and null) for the
// common case: one JSON value of ASCII text without escapes, nested at most
// maxFastDepth deep, with nothing but white space after it. ok is false for
// anything else (escapes, other bytes, invalid JSON), and the caller decodes
// with encoding/json, which then gives the same value or the error. It
// exists because events are matched by the million, and encoding/json's
// decoder costs an allocation of its own and of its buffer per value.
func fastValue[T ~string | ~[]byte](s T) (v any, ok bool) {
	p := fastParser[T]{s: s}
	v, ok = p.value(0)
	if !ok {
		return nil, false
	}
	p.space()
	return v, p.i == len(p.s)
}

const maxFastDepth = 64

type fastParser[T ~string | ~[]byte] struct {
	s T
	i int
}

func (p *fastParser[T]) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser[T]) value(depth int) (any, bool) {
	p.space()
	if p.i >= len(p.s) || depth > maxFastDepth {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, false
}

func (p *fastParser[T]) literal(lit string) bool {
	if len(p.s)-p.i < len(lit) || string(p.s[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

func (p *fastParser[T]) object(depth int) (any, bool) {
	p.i++ // {
	m := map[string]any{}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, false
		}
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, false
		}
		p.i++
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k.(string)] = v
		p.space()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return m, true
		default:
			return nil, false
		}
	}
}

func (p *fastParser[T]) array(depth int) (any, bool) {
	p.i++ // [
	a := []any{}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return a, true
	}
	for {
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		p.space()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// str reads a string of printable ASCII without escapes.
func (p *fastParser[T]) str() (any, bool) {
	start := p.i + 1
	if !p.skipStr() {
		return nil, false
	}
	return string(p.s[start : p.i-1]), true
}

// skipStr passes over what str reads.
func (p *fastParser[T]) skipStr() bool {
	for j := p.i + 1; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '"':
			p.i = j + 1
			return true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return false
		}
	}
	return false
}

// number reads a JSON number as Decode does: an int64 when it has no
// fraction or exponent and fits, else a float64 (±Inf past its range).
func (p *fastParser[T]) number() (any, bool) {
	start := p.i
	integer, ok := p.skipNumber()
	if !ok {
		return nil, false
	}
	text := string(p.s[start:p.i])
	if integer {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return i, true
		}
	}
	f, _ := strconv.ParseFloat(text, 64)
	return f, true
}

// skipNumber passes over what number reads; integer is whether it has
// neither a fraction nor an exponent.
func (p *fastParser[T]) skipNumber() (integer, ok bool) {
	j := p.i
	if p.s[j] == '-' {
		j++
	}
	digits := func() int {
		n := 0
		for j < len(p.s) && '0' <= p.s[j] && p.s[j] <= '9' {
			j++
			n++
		}
		return n
	}
	intStart := j
	n := digits()
	if n == 0 || n > 1 && p.s[intStart] == '0' {
		return false, false // no digits, or a leading zero
	}
	integer = true
	if j < len(p.s) && p.s[j] == '.' {
		j++
		if digits() == 0 {
			return false, false
		}
		integer = false
	}
	if j < len(p.s) && (p.s[j] == 'e' || p.s[j] == 'E') {
		j++
		if j < len(p.s) && (p.s[j] == '+' || p.s[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false, false
		}
		integer = false
	}
	p.i = j
	return integer, true
}

// Valid reports whether fastValue takes s, without building its value.
func Valid[T ~string | ~[]byte](s T) bool {
	p := fastParser[T]{s: s}
	if !p.skip(0) {
		return false
	}
	p.space()
	return p.i == len(p.s)
}

// Field returns the member name of the JSON object s as fastValue
// decodes it (the last one when the name is repeated), building nothing
// else; found is false when the object has no such member. ok is false
// when fastValue would not take s or s is not an object.
func Field[T ~string | ~[]byte](s T, name string) (v any, found, ok bool) {
	m := [1]Member{{Name: name}}
	if !Members(s, m[:]) {
		return nil, false, false
	}
	return m[0].Value, m[0].Found, true
}

// Members is Field for every member of ms in one pass: it sets the
// value and found of each. It returns false when fastValue would not take s
// or s is not an object.
func Members[T ~string | ~[]byte](s T, ms []Member) bool {
	p := fastParser[T]{s: s}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return false
	}
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
	} else {
		for {
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				return false
			}
			start := p.i + 1
			if !p.skipStr() {
				return false
			}
			k := p.s[start : p.i-1]
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return false
			}
			p.i++
			j := -1
			for i := range ms {
				if ms[i].Name == string(k) {
					j = i
					break
				}
			}
			if j >= 0 {
				v, ok := p.value(1)
				if !ok {
					return false
				}
				ms[j].Value, ms[j].Found = v, true
			} else if !p.skip(1) {
				return false
			}
			p.space()
			if p.i >= len(p.s) {
				return false
			}
			if p.s[p.i] == '}' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return false
			}
			p.i++
		}
	}
	p.space()
	return p.i == len(p.s)
}

// skip passes over what value reads, building nothing.
func (p *fastParser[T]) skip(depth int) bool {
	p.space()
	if p.i >= len(p.s) || depth > maxFastDepth {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '{', c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		p.i++
		p.space()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			return true
		}
		for {
			if c == '{' {
				p.space()
				if p.i >= len(p.s) || p.s[p.i] != '"' || !p.skipStr() {
					return false
				}
				p.space()
				if p.i >= len(p.s) || p.s[p.i] != ':' {
					return false
				}
				p.i++
			}
			if !p.skip(depth + 1) {
				return false
			}
			p.space()
			if p.i >= len(p.s) {
				return false
			}
			switch p.s[p.i] {
			case ',':
				p.i++
			case end:
				p.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		return p.skipStr()
	case c == '-' || '0' <= c && c <= '9':
		_, ok := p.skipNumber()
		return ok
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return false
}

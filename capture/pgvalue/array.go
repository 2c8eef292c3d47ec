package pgvalue

import (
	"errors"
	"slices"
)

var errArray = errors.New("invalid array syntax")

// maxArrayDims is PostgreSQL's MAXDIM.
const maxArrayDims = 6

// decodeArray decodes an array of the named element type from PostgreSQL's
// array output: "{1,2,NULL}", "{{1,2},{3,4}}", "{\"a b\",\"c\\\"d\"}", with an
// optional "[lo:hi]=" dimension decoration, which is dropped (lower bounds are
// not kept). NULL elements become nil; a multi-dimensional array becomes nested
// []any. An empty array is an empty, non-nil []any.
func decodeArray(elem string, s []byte) ([]any, error) {
	p := arrayParser{s: s, elem: elem, delim: ','}
	if elem == "box" {
		p.delim = ';'
	}
	if len(s) > 0 && s[0] == '[' {
		if err := p.skipDims(); err != nil {
			return nil, err
		}
	}
	v, err := p.parse(1)
	if err != nil {
		return nil, err
	}
	if p.i != len(s) {
		return nil, errArray
	}
	if _, ok := shape(v); !ok {
		return nil, errors.New("multidimensional array with sub-arrays of different dimensions")
	}
	return v, nil
}

// shape returns the dimensions of a nested array, and false when it is not
// rectangular, as PostgreSQL requires: sibling sub-arrays of equal shape, and no
// level mixing elements with sub-arrays.
func shape(a []any) ([]int, bool) {
	if len(a) == 0 {
		return []int{0}, true
	}
	first, isArr := a[0].([]any)
	if !isArr {
		for _, e := range a[1:] {
			if _, ok := e.([]any); ok {
				return nil, false
			}
		}
		return []int{len(a)}, true
	}
	dims, ok := shape(first)
	if !ok {
		return nil, false
	}
	for _, e := range a[1:] {
		sub, ok := e.([]any)
		if !ok {
			return nil, false
		}
		d, ok := shape(sub)
		if !ok || !slices.Equal(d, dims) {
			return nil, false
		}
	}
	return append([]int{len(a)}, dims...), true
}

type arrayParser struct {
	s     []byte
	i     int
	elem  string
	delim byte
	buf   []byte // scratch for unescaping quoted elements
}

// skipDims skips "[lo:hi][lo:hi]...=".
func (p *arrayParser) skipDims() error {
	for p.i < len(p.s) && p.s[p.i] == '[' {
		end := p.i + 1
		for end < len(p.s) && p.s[end] != ']' {
			c := p.s[end]
			if !isDigit(c) && c != '-' && c != ':' {
				return errArray
			}
			end++
		}
		if end == len(p.s) {
			return errArray
		}
		p.i = end + 1
	}
	if p.i >= len(p.s) || p.s[p.i] != '=' {
		return errArray
	}
	p.i++
	return nil
}

// parse parses "{...}" at p.i, at nesting depth depth.
func (p *arrayParser) parse(depth int) ([]any, error) {
	if depth > maxArrayDims {
		return nil, errors.New("too many array dimensions")
	}
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, errArray
	}
	p.i++
	out := []any{}
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return out, nil
	}
	for {
		if p.i >= len(p.s) {
			return nil, errArray
		}
		var (
			v   any
			err error
		)
		switch p.s[p.i] {
		case '{':
			v, err = p.parse(depth + 1)
		case '"':
			v, err = p.quoted()
		default:
			v, err = p.unquoted()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if p.i >= len(p.s) {
			return nil, errArray
		}
		switch p.s[p.i] {
		case p.delim:
			p.i++
		case '}':
			p.i++
			return out, nil
		default:
			return nil, errArray
		}
	}
}

// quoted parses a double-quoted element with backslash escapes.
func (p *arrayParser) quoted() (any, error) {
	p.i++ // opening quote
	p.buf = p.buf[:0]
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 >= len(p.s) {
				return nil, errArray
			}
			p.buf = append(p.buf, p.s[p.i+1])
			p.i += 2
		case '"':
			p.i++
			return decodeScalar(p.elem, p.buf)
		default:
			p.buf = append(p.buf, c)
			p.i++
		}
	}
	return nil, errArray
}

// unquoted parses an element up to the next delimiter or closing brace. An
// unquoted NULL (in any case) is a NULL element.
func (p *arrayParser) unquoted() (any, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == p.delim || c == '}' {
			break
		}
		if c == '{' || c == '"' || c == '\\' {
			return nil, errArray
		}
		p.i++
	}
	tok := p.s[start:p.i]
	if len(tok) == 0 {
		return nil, errArray
	}
	if len(tok) == 4 && (tok[0]|0x20) == 'n' && (tok[1]|0x20) == 'u' && (tok[2]|0x20) == 'l' && (tok[3]|0x20) == 'l' {
		return nil, nil
	}
	return decodeScalar(p.elem, tok)
}

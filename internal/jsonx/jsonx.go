// Package jsonx holds the JSON writers that several packages share and that
// must write exactly what encoding/json writes: a string appender for the
// hand-written encoders of the hot paths (the event envelope, the query
// API's responses) and an object whose members keep their order (the schema
// documents cdcflow drafts).
//
// It imports no project package and does no I/O; every function is safe for
// concurrent use.
package jsonx

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// AppendString appends s to b as a JSON string exactly as encoding/json
// writes it with HTML escaping off: \", \\, \b, \f, \n, \r and \t, other
// control characters as \u00xx, U+2028 and U+2029 escaped, and each byte of
// invalid UTF-8 as \ufffd. It returns the extended buffer.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// MarshalObject writes a JSON object of n members in the order member
// gives them (member(i) is the key and value of the i-th), so that a
// document reads in a natural order ($schema, title, type, properties)
// rather than encoding/json's sorted map keys. Keys are written by
// AppendString, values by encoding/json with HTML escaping off; an error
// encoding a value is returned as it is.
func MarshalObject(n int, member func(i int) (key string, val any)) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		key, val := member(i)
		b.Write(AppendString(b.AvailableBuffer(), key))
		b.WriteByte(':')
		if err := enc.Encode(val); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

package cep

import (
	"encoding/json"
	"strconv"
)

// appendJSON appends v, a value toJSON returns, as json.Marshal writes it:
// strings of printable ASCII that json.Marshal writes as they are
// (no '"', '\\', '<', '>', '&') and integers, booleans and null directly,
// anything else through json.Marshal.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		if plainJSONString(x) {
			b = append(b, '"')
			b = append(b, x...)
			return append(b, '"'), nil
		}
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case nil:
		return append(b, "null"...), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// plainJSONString reports whether json.Marshal writes s as it is, between
// quotes.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

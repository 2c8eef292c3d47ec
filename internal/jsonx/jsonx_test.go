package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// marshalString is what encoding/json writes for s with HTML escaping off.
func marshalString(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "order 42", `"order 42"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other control", "\x00\x1f", `"\u0000\u001f"`},
		{"html unescaped", "<a>&", `"<a>&"`},
		{"multibyte", "Zürich ✓", `"Zürich ✓"`},
		{"line separators", "\u2028\u2029", `"\u2028\u2029"`},
		{"invalid utf-8", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("x:")
			got := AppendString(prefix, tt.in)
			if string(got) != "x:"+tt.want {
				t.Errorf("AppendString(%q) = %s; want x:%s", tt.in, got, tt.want)
			}
			if enc := marshalString(t, tt.in); !bytes.Equal(got[2:], enc) {
				t.Errorf("AppendString(%q) = %s; encoding/json writes %s", tt.in, got[2:], enc)
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	// The seeds of the envelope's and the query API's fuzz tests, which
	// wrote their own copies before this package.
	for _, s := range []string{
		"", "plain", "1042", `quote " and \ backslash`, "tab\tnew\nline\rcr\bbs\fff", "\b\f\n\r\t\x00\x1f",
		"\x00\x01\x1f\x7f", "<html> & 'amp'", "é ü 日本語 🎉", "\u2028\u2029", "bad \xff utf8 \xc3",
		"\xed\xa0\x80 surrogate", "a/b/c", "\xff\xfe invalid",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString(nil, s)
		if want := marshalString(t, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s; encoding/json writes %s", s, got, want)
		}
	})
}

type member struct {
	key string
	val any
}

func marshal(ms []member) ([]byte, error) {
	return MarshalObject(len(ms), func(i int) (string, any) { return ms[i].key, ms[i].val })
}

func TestMarshalObject(t *testing.T) {
	tests := []struct {
		name string
		in   []member
		want string
	}{
		{"empty", nil, `{}`},
		{"order kept", []member{{"type", "object"}, {"$schema", "x"}, {"a", 1}}, `{"type":"object","$schema":"x","a":1}`},
		{"nested and escaped", []member{{"k\"<", []any{"<b>", nil, true}}, {"o", map[string]int{"b": 2, "a": 1}}},
			`{"k\"<":["<b>",null,true],"o":{"a":1,"b":2}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := marshal(tt.in)
			if err != nil || string(got) != tt.want {
				t.Errorf("MarshalObject(%v) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestMarshalObjectNested(t *testing.T) {
	inner := orderedObject{{"z", 1}, {"a", 2}}
	got, err := json.Marshal(orderedObject{{"properties", inner}})
	if want := `{"properties":{"z":1,"a":2}}`; err != nil || string(got) != want {
		t.Errorf("json.Marshal(nested) = %s, %v; want %s", got, err, want)
	}
}

type orderedObject []member

func (o orderedObject) MarshalJSON() ([]byte, error) { return marshal(o) }

func TestMarshalObjectError(t *testing.T) {
	_, err := marshal([]member{{"ok", 1}, {"bad", math.NaN()}})
	var uv *json.UnsupportedValueError
	if !errors.As(err, &uv) {
		t.Errorf("MarshalObject(NaN) error = %v; want *json.UnsupportedValueError", err)
	}
}

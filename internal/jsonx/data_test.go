package jsonx

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// slowData is Decode without the fast path: encoding/json with
// UseNumber, then numbers.
func slowData(data string) (any, error) {
	if len(strings.TrimSpace(data)) == 0 {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader([]byte(data)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

var dataSeeds = []string{
	`{"order_id":17,"customer_id":42,"total":"129.90","currency":"EUR","lines":[{"line_no":1,"qty":2}],"notes":null,"ok":true}`,
	`{"a":-0,"b":1.5,"c":1e3,"d":-2E-2,"e":9223372036854775807,"f":9223372036854775808,"g":-9223372036854775809,"h":1e400}`,
	`[1,2,[3,[4,{"x":[]}]],{}]`, ` {"a" : [ true , false , null ] } `, `"text"`, `12`, `{"a":1,"a":2}`,
	`{"a":1}}`, `{"a":1} x`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":"\u00e9"}`, `{"a":"é"}`,
	`{"a":"tab\there"}`, "{\"a\":\"raw\ttab\"}", `{"a":[1,]}`, `{"a":1,}`, `{,}`, `{"a"}`, `[`, `{"a":tru}`, `nul`, `{"a":"x\"y"}`,
	strings.Repeat("[", 70) + strings.Repeat("]", 70), `{"a":"\x7f"}`, "", "   ",
}

// TestDecode checks the fast path against encoding/json on the seeds,
// and that it takes the usual data itself.
func TestDecode(t *testing.T) {
	for _, s := range dataSeeds {
		checkFastData(t, s)
	}
	for _, s := range dataSeeds[:7] {
		if _, ok := fastValue(s); !ok {
			t.Errorf("fastValue(%s) fell back; want the fast path", s)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range dataSeeds {
		f.Add(s)
	}
	f.Fuzz(checkFastData)
}

func checkFastData(t *testing.T, s string) {
	want, werr := slowData(s)
	fromString, serr := Decode(s)
	fromBytes, berr := Decode([]byte(s))
	for _, got := range []struct {
		v   any
		err error
	}{{fromString, serr}, {fromBytes, berr}} {
		if (got.err != nil) != (werr != nil) || !reflect.DeepEqual(got.v, want) {
			t.Fatalf("data %q = %#v, %v; encoding/json gives %#v, %v", s, got.v, got.err, want, werr)
		}
	}
}

// TestField checks Valid, Field and Members against fastValue on the
// data seeds: Valid takes what fastValue takes, and Field finds
// every member of a decoded object as it is decoded, and no other.
func TestField(t *testing.T) {
	for _, s := range append(dataSeeds, `{"a":1,"b":[{"a":2}],"a":{"c":"last"}}`, `{"x":{"a":1}}`) {
		checkFastField(t, s)
	}
}

func FuzzField(f *testing.F) {
	for _, s := range dataSeeds {
		f.Add(s)
	}
	f.Fuzz(checkFastField)
}

func checkFastField(t *testing.T, s string) {
	want, ok := fastValue(s)
	if got := Valid(s); got != ok {
		t.Fatalf("Valid(%q) = %v; fastValue takes it: %v", s, got, ok)
	}
	if Valid([]byte(s)) != ok {
		t.Fatalf("Valid([]byte(%q)) differs from Valid(string)", s)
	}
	obj, isObj := want.(map[string]any)
	ms := []Member{{Name: "a"}, {Name: "missing"}, {Name: "b"}}
	if mok := Members(s, ms); mok != (ok && isObj) {
		t.Fatalf("Members(%q) ok = %v; want %v", s, mok, ok && isObj)
	} else if mok {
		for _, m := range ms {
			if wv, wfound := obj[m.Name]; m.Found != wfound || !reflect.DeepEqual(m.Value, wv) {
				t.Errorf("Members(%q) %s = %#v, %v; want %#v, %v", s, m.Name, m.Value, m.Found, wv, wfound)
			}
		}
	}
	for _, name := range []string{"a", "b", "x", "missing", ""} {
		v, found, fok := Field(s, name)
		if fok != (ok && isObj) {
			t.Fatalf("Field(%q, %q) ok = %v; want %v", s, name, fok, ok && isObj)
		}
		if !fok {
			continue
		}
		wv, wfound := obj[name]
		if found != wfound || !reflect.DeepEqual(v, wv) {
			t.Errorf("Field(%q, %q) = %#v, %v; want %#v, %v", s, name, v, found, wv, wfound)
		}
		if bv, bfound, bok := Field([]byte(s), name); !bok || bfound != found || !reflect.DeepEqual(bv, v) {
			t.Errorf("Field([]byte(%q), %q) differs from Field(string)", s, name)
		}
	}
}

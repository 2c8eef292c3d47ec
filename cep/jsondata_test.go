package cep

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// slowData is dataValue without the fast path: encoding/json with
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

// TestFastData checks the fast path against encoding/json on the seeds,
// and that it takes the usual data itself.
func TestFastData(t *testing.T) {
	for _, s := range dataSeeds {
		checkFastData(t, s)
	}
	for _, s := range dataSeeds[:7] {
		if _, ok := fastData(s); !ok {
			t.Errorf("fastData(%s) fell back; want the fast path", s)
		}
	}
}

func FuzzFastData(f *testing.F) {
	for _, s := range dataSeeds {
		f.Add(s)
	}
	f.Fuzz(checkFastData)
}

func checkFastData(t *testing.T, s string) {
	want, werr := slowData(s)
	fromString, serr := dataValueString(s)
	fromBytes, berr := dataValue([]byte(s))
	for _, got := range []struct {
		v   any
		err error
	}{{fromString, serr}, {fromBytes, berr}} {
		if (got.err != nil) != (werr != nil) || !reflect.DeepEqual(got.v, want) {
			t.Fatalf("data %q = %#v, %v; encoding/json gives %#v, %v", s, got.v, got.err, want, werr)
		}
	}
}

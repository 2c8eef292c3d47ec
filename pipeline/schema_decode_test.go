package pipeline

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FuzzDecodeForSchema checks decodeForSchema against the validator's own
// decoder (encoding/json): the same inputs fail, and the others give equal
// values.
func FuzzDecodeForSchema(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,false,null,"x"],"c":{"d":-1.5e+3}}`,
		`{"s":"tab\t\"q\" \u00e9 \ud83d\ude00","n":0}`,
		"\"\xff\"", `[1,]`, `{"a":1}x`, `-`, `01`, `1.`, `1e`, ` [ ] `, `{"a" 1}`, `"\u12"`, `9223372036854775808`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotErr := decodeForSchema(data)
		want, wantErr := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("decodeForSchema(%q) error %v; encoding/json error %v", data, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeForSchema(%q) = %#v; want %#v", data, got, want)
		}
	})
}

package pipeline

import (
	"errors"
	"os"
	"testing"
)

// FuzzParseMapping feeds arbitrary files to the mapping loader: it must never
// panic, and must either load or explain itself with MappingErrors.
func FuzzParseMapping(f *testing.F) {
	for _, p := range []string{referenceMapping, "testdata/golden/types/mapping.yaml", "testdata/golden/gather/mapping.yaml", "testdata/upcast/mapping.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(goodMapping))
	f.Add([]byte("version: 1\ntables:\n  - table: t\n    aggregate: &a {type: x, id: row.id}\n    events: [{type: A, version: 1, data: *a}]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		m, err := Parse("m.yaml", src, nil, LoadOptions{})
		if err == nil {
			if m == nil {
				t.Fatal("Parse = nil, nil")
			}
			return
		}
		var es MappingErrors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("Parse error %T %v is not MappingErrors", err, err)
		}
	})
}

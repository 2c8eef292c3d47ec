package pgvalue

import (
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// BenchmarkDecode decodes one value of each common type per iteration.
func BenchmarkDecode(b *testing.B) {
	values := []struct {
		oid  uint32
		text string
	}{
		{20, "1234567890"},
		{1700, "1234.5600"},
		{25, "a short text value"},
		{1184, "2026-11-23 10:15:00.123456+00"},
		{1114, "2026-11-23 10:15:00.123456"},
		{16, "t"},
		{3802, `{"a": [1, 2], "b": 1}`},
		{1007, "{1,2,3,NULL}"},
	}
	cols := make([]capture.Column, len(values))
	texts := make([][]byte, len(values))
	for i, v := range values {
		cols[i] = capture.Column{Name: "c", TypeOID: v.oid}
		texts[i] = []byte(v.text)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range cols {
			if _, err := Decode(cols[i], texts[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

package flow

import (
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

func TestStoredSource(t *testing.T) {
	stored := txCursor{Source: "postgres://7301/shop?tl=1", LSN: 0x4F80000, Records: 3, Mapping: "9f2c"}.encode()
	src, lsn, ok := StoredSource(stored)
	if !ok || src != "postgres://7301/shop?tl=1" || lsn != capture.LSN(0x4F80000) {
		t.Errorf("StoredSource(%s) = %q, %s, %v; want the source and LSN", stored, src, lsn, ok)
	}
	for _, b := range [][]byte{nil, []byte("not json")} {
		if _, _, ok := StoredSource(b); ok {
			t.Errorf("StoredSource(%q) ok; want none", b)
		}
	}
}

package flow

import (
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// textEncoded is a capture.Encoded of a text value.
type textEncoded string

func (e textEncoded) Decode() (capture.Value, error) {
	return capture.Value{Kind: capture.KindValue, Data: string(e)}, nil
}
func (e textEncoded) Len() int       { return len(e) }
func (e textEncoded) String() string { return string(e) }

// TestChunkBytesCountsEncodedText checks that a chunk's estimate counts a
// deferred value's text as it counts the decoded value's: a wide row
// weighs the same whether capture decoded it or not.
func TestChunkBytesCountsEncodedText(t *testing.T) {
	memo := strings.Repeat("m", 9000)
	decoded := &capture.Change{Op: capture.OpInsert, New: []capture.Value{{Kind: capture.KindValue, Data: memo}}}
	encoded := &capture.Change{Op: capture.OpInsert, New: []capture.Value{{Kind: capture.KindEncoded, Data: textEncoded(memo)}}}
	d, e := chunkBytes([]capture.Message{decoded}), chunkBytes([]capture.Message{encoded})
	if d < 9000 || e < 9000 || e-d != encodedOverhead-boxedOverhead {
		t.Errorf("chunkBytes: decoded %d, encoded %d; want both over 9000, %d apart", d, e, encodedOverhead-boxedOverhead)
	}
}

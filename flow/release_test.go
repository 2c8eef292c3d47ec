package flow

import (
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// TestReleaseValues checks that a mapped chunk keeps its messages' kinds,
// order and transactions but none of its rows.
func TestReleaseValues(t *testing.T) {
	rel := &capture.Relation{Table: "t", Columns: []capture.Column{{Name: "id", Key: true}}}
	row := []capture.Value{{Kind: capture.KindValue, Data: int64(1)}}
	change := func(lsn capture.LSN, i uint32) *capture.Change {
		return &capture.Change{Op: capture.OpInsert, FinalLSN: lsn, XID: uint32(lsn), Index: i, Relation: rel, New: row, Old: row}
	}
	begin, commit := &capture.Begin{FinalLSN: 0x20}, &capture.Commit{FinalLSN: 0x20, EndLSN: 0x28}
	msgs := []capture.Message{change(0x10, 7), change(0x10, 8), commit, &capture.Marker{Kind: capture.MarkerHeartbeat}, begin, change(0x20, 0)}
	orig := append([]capture.Message(nil), msgs...)
	releaseValues(msgs)
	if len(msgs) != len(orig) || msgs[2] != orig[2] || msgs[3] != orig[3] || msgs[4] != orig[4] {
		t.Fatalf("releaseValues changed the chunk's other messages: %v", msgs)
	}
	var stubs []*capture.Change
	for _, i := range []int{0, 1, 5} {
		c, ok := msgs[i].(*capture.Change)
		if !ok {
			t.Fatalf("message %d = %T; want a *capture.Change", i, msgs[i])
		}
		o := orig[i].(*capture.Change)
		if c == o || c.New != nil || c.Old != nil || c.Relation != nil || c.FinalLSN != o.FinalLSN || c.XID != o.XID {
			t.Errorf("message %d = %+v; want a change of transaction %s without values", i, c, o.FinalLSN)
		}
		stubs = append(stubs, c)
	}
	if stubs[0] != stubs[1] || stubs[1] == stubs[2] {
		t.Errorf("want one stub per transaction run: %p %p %p", stubs[0], stubs[1], stubs[2])
	}
}

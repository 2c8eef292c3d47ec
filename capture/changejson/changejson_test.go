package changejson

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

func TestLine(t *testing.T) {
	rel := &capture.Relation{OID: 1, Schema: "public", Table: "Order Lines", Columns: []capture.Column{
		{Name: "id", Key: true}, {Name: "amount"}, {Name: "note"}, {Name: "at"}, {Name: "local"},
		{Name: "raw"}, {Name: "tags"}, {Name: "ratio"}, {Name: "doc"}, {Name: "gone"},
	}}
	at := time.Date(2026, 11, 23, 10, 15, 0, 123456000, time.UTC)
	change := &capture.Change{
		Op: capture.OpUpdate, FinalLSN: 0x16B374D848, Index: 3, XID: 7, CommitTime: at, Relation: rel,
		Old: []capture.Value{{Kind: capture.KindValue, Data: int64(1)}},
		New: []capture.Value{
			{Kind: capture.KindValue, Data: int64(1)},
			{Kind: capture.KindValue, Data: capture.Numeric("1234.5600")},
			{Kind: capture.KindUnchangedTOAST},
			{Kind: capture.KindValue, Data: at},
			{Kind: capture.KindValue, Data: capture.LocalTime{Time: at}},
			{Kind: capture.KindValue, Data: []byte{0xde, 0xad}},
			{Kind: capture.KindValue, Data: []any{"a", nil}},
			{Kind: capture.KindValue, Data: math.Inf(-1)},
			{Kind: capture.KindValue, Data: json.RawMessage(`{"k": [1, 2]}`)},
			{Kind: capture.KindNull},
		},
	}
	line, ok := Line(change, nil)
	if !ok {
		t.Fatal("change not printed")
	}
	got, err := json.Marshal(line)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"commit_time":"2026-11-23T10:15:00.123456Z","index":3,"lsn":"16/B374D848",` +
		`"new":{"amount":"1234.5600","at":"2026-11-23T10:15:00.123456Z","doc":{"k":[1,2]},"gone":null,"id":1,` +
		`"local":"2026-11-23T10:15:00.123456","ratio":"-Infinity","raw":"3q0=","tags":["a",null]},` +
		`"old":{"id":1},"table":"\"public\".\"Order Lines\"","type":"update","unchanged":["note"],"xid":7}`
	if string(got) != want {
		t.Errorf("Line =\n%s\nwant\n%s", got, want)
	}

	other := func(rel *capture.Relation) bool { return rel.Table == "other" }
	if _, ok := Line(change, other); ok {
		t.Error("change of a filtered-out table printed")
	}
	if _, ok := Line(&capture.Marker{Kind: capture.MarkerHeartbeat}, nil); ok {
		t.Error("heartbeat printed")
	}
}

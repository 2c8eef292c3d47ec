package pgoutput

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgvalue"
)

var (
	t0 = time.Date(2026, 11, 23, 10, 15, 0, 123456000, time.UTC)

	// orders: id int8 key, note text, amount numeric, doc jsonb.
	ordersCols = []relCol{
		{key: true, name: "id", oid: 20, typmod: -1},
		{name: "note", oid: 25, typmod: -1},
		{name: "amount", oid: 1700, typmod: 655366},
		{name: "doc", oid: 3802, typmod: -1},
	}
	ordersRel  = encRelation(16400, "public", "orders", 'd', ordersCols...)
	ordersFull = encRelation(16400, "public", "orders", 'f', ordersCols...)
)

func val(v any) capture.Value { return capture.Value{Kind: capture.KindValue, Data: v} }

var (
	vNull   = capture.Value{Kind: capture.KindNull}
	vToast  = capture.Value{Kind: capture.KindUnchangedTOAST}
	vAbsent = capture.Value{}
)

// decodeAll feeds msgs to a new decoder and returns the non-nil results.
func decodeAll(t *testing.T, cfg Config, msgs ...[]byte) (*Decoder, []capture.Message) {
	t.Helper()
	d := NewDecoder(cfg)
	var out []capture.Message
	for i, m := range msgs {
		got, err := d.Decode(capture.LSN(0x1000+i), m)
		if err != nil {
			t.Fatalf("Decode(message %d, %x): %v", i, m, err)
		}
		if got != nil {
			out = append(out, got)
		}
	}
	return d, out
}

func TestDecodeTransaction(t *testing.T) {
	d, got := decodeAll(t, Config{},
		ordersRel,
		encBegin(0x16B374D848, t0, 770),
		encInsert(16400, txt("1"), txt("first"), txt("12.50"), txt(`{"a":1}`)),
		encInsert(16400, txt("2"), null, txt("NaN"), null),
		encCommit(0x16B374D848, 0x16B374D8A0, t0),
	)
	rel, ok := d.Relation(16400)
	if !ok {
		t.Fatal("Relation(16400) not cached")
	}
	wantRel := &capture.Relation{OID: 16400, Schema: "public", Table: "orders", ReplicaIdentity: capture.IdentityDefault,
		Columns: []capture.Column{
			{Name: "id", TypeOID: 20, TypeName: "int8", TypeMod: -1, Key: true},
			{Name: "note", TypeOID: 25, TypeName: "text", TypeMod: -1},
			{Name: "amount", TypeOID: 1700, TypeName: "numeric", TypeMod: 655366},
			{Name: "doc", TypeOID: 3802, TypeName: "jsonb", TypeMod: -1},
		}}
	if !reflect.DeepEqual(rel, wantRel) {
		t.Errorf("Relation(16400) = %+v; want %+v", rel, wantRel)
	}
	want := []capture.Message{
		&capture.Begin{FinalLSN: 0x16B374D848, XID: 770, CommitTime: t0},
		&capture.Change{Op: capture.OpInsert, FinalLSN: 0x16B374D848, Index: 0, XID: 770, CommitTime: t0, Relation: rel,
			New: []capture.Value{val(int64(1)), val("first"), val(capture.Numeric("12.50")), val(json.RawMessage(`{"a":1}`))}},
		&capture.Change{Op: capture.OpInsert, FinalLSN: 0x16B374D848, Index: 1, XID: 770, CommitTime: t0, Relation: rel,
			New: []capture.Value{val(int64(2)), vNull, val(capture.Numeric("NaN")), vNull}},
		&capture.Commit{FinalLSN: 0x16B374D848, EndLSN: 0x16B374D8A0, XID: 770, CommitTime: t0},
	}
	assertMessages(t, got, want)
}

// assertMessages compares messages, treating json.RawMessage as bytes.
func assertMessages(t *testing.T, got, want []capture.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages; want %d:\n%s", len(got), len(want), render(got))
	}
	g, w := render(got), render(want)
	if g != w {
		t.Errorf("messages differ:\ngot:\n%s\nwant:\n%s", g, w)
	}
}

func TestDecodeIndexRestartsPerTransaction(t *testing.T) {
	_, got := decodeAll(t, Config{},
		ordersRel,
		encBegin(0x100, t0, 1),
		encInsert(16400, txt("1"), null, null, null),
		encInsert(16400, txt("2"), null, null, null),
		encCommit(0x100, 0x110, t0),
		encBegin(0x200, t0, 2),
		encInsert(16400, txt("3"), null, null, null),
		encCommit(0x200, 0x210, t0),
	)
	var idx []uint32
	var lsns []capture.LSN
	for _, m := range got {
		if c, ok := m.(*capture.Change); ok {
			idx = append(idx, c.Index)
			lsns = append(lsns, c.FinalLSN)
		}
	}
	if want := []uint32{0, 1, 0}; !reflect.DeepEqual(idx, want) {
		t.Errorf("indexes = %v; want %v", idx, want)
	}
	if want := []capture.LSN{0x100, 0x100, 0x200}; !reflect.DeepEqual(lsns, want) {
		t.Errorf("final LSNs = %v; want %v", lsns, want)
	}
}

func TestDecodeUpdateDelete(t *testing.T) {
	full := []tv{txt("1"), txt("old note"), txt("1.00"), txt(`{"big":"toasted"}`)}
	tests := []struct {
		name    string
		rel     []byte
		msg     []byte
		old     []capture.Value
		new     []capture.Value
		wantKey []capture.Value
	}{
		{
			name:    "update without old tuple",
			rel:     ordersRel,
			msg:     encUpdate(16400, 0, nil, []tv{txt("1"), txt("n"), txt("2.00"), unchanged}),
			new:     []capture.Value{val(int64(1)), val("n"), val(capture.Numeric("2.00")), vToast},
			wantKey: []capture.Value{val(int64(1))},
		},
		{
			name:    "update of the key sends the old key; non-key columns absent",
			rel:     ordersRel,
			msg:     encUpdate(16400, 'K', []tv{txt("1"), null, null, null}, []tv{txt("7"), txt("n"), null, unchanged}),
			old:     []capture.Value{val(int64(1)), vAbsent, vAbsent, vAbsent},
			new:     []capture.Value{val(int64(7)), val("n"), vNull, vToast},
			wantKey: []capture.Value{val(int64(7))},
		},
		{
			name:    "replica identity full: unchanged TOAST taken from the old tuple",
			rel:     ordersFull,
			msg:     encUpdate(16400, 'O', full, []tv{txt("1"), txt("new note"), null, unchanged}),
			old:     []capture.Value{val(int64(1)), val("old note"), val(capture.Numeric("1.00")), val(json.RawMessage(`{"big":"toasted"}`))},
			new:     []capture.Value{val(int64(1)), val("new note"), vNull, val(json.RawMessage(`{"big":"toasted"}`))},
			wantKey: []capture.Value{val(int64(1))},
		},
		{
			name:    "old tuple also unchanged: stays unchanged TOAST",
			rel:     ordersFull,
			msg:     encUpdate(16400, 'O', []tv{txt("1"), null, null, unchanged}, []tv{txt("1"), null, null, unchanged}),
			old:     []capture.Value{val(int64(1)), vNull, vNull, vToast},
			new:     []capture.Value{val(int64(1)), vNull, vNull, vToast},
			wantKey: []capture.Value{val(int64(1))},
		},
		{
			name:    "old NULL carried into an unchanged new column",
			rel:     ordersFull,
			msg:     encUpdate(16400, 'O', []tv{txt("1"), null, null, null}, []tv{txt("1"), txt("x"), null, unchanged}),
			old:     []capture.Value{val(int64(1)), vNull, vNull, vNull},
			new:     []capture.Value{val(int64(1)), val("x"), vNull, vNull},
			wantKey: []capture.Value{val(int64(1))},
		},
		{
			name:    "delete under default identity: key only",
			rel:     ordersRel,
			msg:     encDelete(16400, 'K', txt("9"), null, null, null),
			old:     []capture.Value{val(int64(9)), vAbsent, vAbsent, vAbsent},
			wantKey: []capture.Value{val(int64(9))},
		},
		{
			name:    "delete under full identity: every column",
			rel:     ordersFull,
			msg:     encDelete(16400, 'O', full...),
			old:     []capture.Value{val(int64(1)), val("old note"), val(capture.Numeric("1.00")), val(json.RawMessage(`{"big":"toasted"}`))},
			wantKey: []capture.Value{val(int64(1))},
		},
	}
	for _, tt := range tests {
		for _, cfg := range []Config{{}, {DeferDecoding: true}} {
			t.Run(fmt.Sprintf("%s/defer=%v", tt.name, cfg.DeferDecoding), func(t *testing.T) {
				_, got := decodeAll(t, cfg, tt.rel, encBegin(0x100, t0, 5), tt.msg, encCommit(0x100, 0x110, t0))
				c, ok := got[1].(*capture.Change)
				if !ok {
					t.Fatalf("message 1 = %T; want *capture.Change", got[1])
				}
				op := capture.OpUpdate
				if tt.msg[0] == 'D' {
					op = capture.OpDelete
				}
				if c.Op != op {
					t.Errorf("Op = %v; want %v", c.Op, op)
				}
				if g, w := renderValues(decodedValues(t, cfg, c.Old)), renderValues(tt.old); g != w {
					t.Errorf("Old = %s; want %s", g, w)
				}
				if g, w := renderValues(decodedValues(t, cfg, c.New)), renderValues(tt.new); g != w {
					t.Errorf("New = %s; want %s", g, w)
				}
				if g, w := renderValues(decodedValues(t, cfg, c.Key())), renderValues(tt.wantKey); g != w {
					t.Errorf("Key() = %s; want %s", g, w)
				}
			})
		}
	}
}

// decodedValues returns vals with their encoded values decoded. Under
// deferred decoding it checks that no value was decoded yet.
func decodedValues(t *testing.T, cfg Config, vals []capture.Value) []capture.Value {
	t.Helper()
	if vals == nil {
		return nil
	}
	out := make([]capture.Value, len(vals))
	for i, v := range vals {
		if cfg.DeferDecoding && v.Kind == capture.KindValue {
			t.Errorf("value %d = %+v was decoded; want it encoded", i, v)
		}
		if !cfg.DeferDecoding && v.Kind == capture.KindEncoded {
			t.Errorf("value %d was not decoded", i)
		}
		d, err := v.Decoded()
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		out[i] = d
	}
	return out
}

// TestDeferDecodingSkipsUnreadColumns checks that deferred decoding does no
// decoding for a column nobody reads (one whose text would not decode goes
// through), that reading a column gives what eager decoding gives, and that
// the values do not alias the message.
func TestDeferDecodingSkipsUnreadColumns(t *testing.T) {
	// An old row whose amount would not decode; the new row is valid.
	bad := encUpdate(16400, 'O', []tv{txt("1"), txt("old"), txt("not a number"), txt(`{"a":1}`)},
		[]tv{txt("1"), txt("new"), txt("2.50"), unchanged})
	msgs := [][]byte{ordersFull, encBegin(0x100, t0, 5)}

	eager := NewDecoder(Config{})
	for _, m := range msgs {
		if _, err := eager.Decode(1, m); err != nil {
			t.Fatal(err)
		}
	}
	_, err := eager.Decode(2, bad)
	var pe *pgvalue.Error
	if !errors.As(err, &pe) || pe.Column != "amount" {
		t.Fatalf("eager Decode = %v; want the amount column's *pgvalue.Error", err)
	}

	_, got := decodeAll(t, Config{DeferDecoding: true}, append(msgs, slices.Clone(bad))...)
	c := got[1].(*capture.Change)
	clear(bad) // the values must not alias the message
	for i, want := range []capture.Value{val(int64(1)), val("new"), val(capture.Numeric("2.50")), val(json.RawMessage(`{"a":1}`))} {
		if c.New[i].Kind != capture.KindEncoded {
			t.Fatalf("New[%d] = %+v; want an encoded value", i, c.New[i])
		}
		d, err := c.New[i].Decoded()
		if err != nil || !reflect.DeepEqual(d, want) {
			t.Errorf("New[%d] decodes to %+v, %v; want %+v", i, d, err, want)
		}
	}
	if _, err := c.Old[2].Decoded(); !errors.As(err, &pe) || pe.Column != "amount" {
		t.Errorf("Old[2].Decoded() error = %v; want the amount column's *pgvalue.Error", err)
	}
	if e, ok := c.Old[2].Data.(capture.Encoded); !ok || e.String() != "not a number" || e.Len() != len("not a number") {
		t.Errorf("Old[2] = %+v; want the encoded text %q", c.Old[2], "not a number")
	}
}

func TestDecodeTruncate(t *testing.T) {
	d, got := decodeAll(t, Config{},
		ordersRel,
		encRelation(16401, "sales", "Order Lines", 'i', relCol{key: true, name: "order_id", oid: 20}, relCol{name: "qty", oid: 23}),
		encBegin(0x300, t0, 9),
		encInsert(16400, txt("1"), null, null, null),
		encTruncate(truncCascade|truncRestartIdentity, 16400, 16401),
		encTruncate(0, 16401),
		encCommit(0x300, 0x310, t0),
	)
	orders, _ := d.Relation(16400)
	lines, _ := d.Relation(16401)
	c1, c2 := got[2].(*capture.Change), got[3].(*capture.Change)
	if c1.Op != capture.OpTruncate || c1.Index != 1 || c1.Relation != orders ||
		!reflect.DeepEqual(c1.Truncated, []*capture.Relation{orders, lines}) || !c1.Cascade || !c1.RestartIdentity {
		t.Errorf("first truncate = %+v", c1)
	}
	if c2.Index != 2 || c2.Relation != lines || len(c2.Truncated) != 1 || c2.Cascade || c2.RestartIdentity {
		t.Errorf("second truncate = %+v", c2)
	}
	if lines.ReplicaIdentity != capture.IdentityIndex || lines.QualifiedName() != `"sales"."Order Lines"` {
		t.Errorf("relation 16401 = %+v", lines)
	}
}

// A Relation message after ALTER TABLE replaces the cached relation with a new
// pointer and leaves the one handed out before untouched; an identical Relation
// message keeps the pointer.
func TestDecodeRelationChange(t *testing.T) {
	d := NewDecoder(Config{})
	mustDecode := func(m []byte) capture.Message {
		t.Helper()
		got, err := d.Decode(0x10, m)
		if err != nil {
			t.Fatalf("Decode(%x): %v", m, err)
		}
		return got
	}
	mustDecode(ordersRel)
	before, _ := d.Relation(16400)
	snapshot := *before
	snapshot.Columns = append([]capture.Column(nil), before.Columns...)

	mustDecode(ordersRel)
	if same, _ := d.Relation(16400); same != before {
		t.Error("an identical Relation message replaced the cached relation")
	}

	// ALTER TABLE orders ADD COLUMN qty int4, ALTER amount TYPE float8, DROP doc.
	mustDecode(encRelation(16400, "public", "orders", 'd',
		relCol{key: true, name: "id", oid: 20, typmod: -1},
		relCol{name: "note", oid: 25, typmod: -1},
		relCol{name: "amount", oid: 701, typmod: -1},
		relCol{name: "qty", oid: 23, typmod: -1},
	))
	after, _ := d.Relation(16400)
	if after == before {
		t.Fatal("the changed Relation message did not yield a new *capture.Relation")
	}
	if !reflect.DeepEqual(*before, snapshot) {
		t.Errorf("the relation handed out earlier was modified: %+v", before)
	}
	mustDecode(encBegin(0x100, t0, 5))
	c := mustDecode(encInsert(16400, txt("1"), txt("x"), txt("1.5"), txt("3"))).(*capture.Change)
	if c.Relation != after {
		t.Error("the change does not carry the new relation")
	}
	if g, w := renderValues(c.New), renderValues([]capture.Value{val(int64(1)), val("x"), val(1.5), val(int64(3))}); g != w {
		t.Errorf("New = %s; want %s", g, w)
	}
}

// Type messages name non-built-in types; pgoutput names a domain by its base
// type, so a domain over numeric decodes as numeric.
func TestDecodeTypes(t *testing.T) {
	lookups := 0
	cfg := Config{LookupType: func(oid uint32) (string, bool) {
		lookups++
		if oid == 16502 {
			return "int4", true
		}
		return "", false
	}}
	d, got := decodeAll(t, cfg,
		encType(16500, "", "numeric"),
		encType(16501, "public", "mood"),
		encType(16503, "public", "_mood"),
		encRelation(16400, "public", "t", 'd',
			relCol{key: true, name: "price", oid: 16500},
			relCol{name: "mood", oid: 16501},
			relCol{name: "looked_up", oid: 16502},
			relCol{name: "moods", oid: 16503},
			relCol{name: "nameless", oid: 16504},
		),
		encBegin(0x100, t0, 5),
		encInsert(16400, txt("9.90"), txt("happy"), txt("12"), txt(`{happy,NULL}`), txt("(1,2)")),
		encCommit(0x100, 0x110, t0),
	)
	rel, _ := d.Relation(16400)
	var names []string
	for _, c := range rel.Columns {
		names = append(names, c.TypeName)
	}
	if want := []string{"numeric", "mood", "int4", "_mood", ""}; !reflect.DeepEqual(names, want) {
		t.Errorf("type names = %q; want %q", names, want)
	}
	if lookups != 2 {
		t.Errorf("LookupType called %d times; want 2 (16502 and 16504)", lookups)
	}
	c := got[1].(*capture.Change)
	want := []capture.Value{val(capture.Numeric("9.90")), val("happy"), val(int64(12)), val([]any{"happy", nil}), val("(1,2)")}
	if g, w := renderValues(c.New), renderValues(want); g != w {
		t.Errorf("New = %s; want %s", g, w)
	}
}

func TestDecodeMessages(t *testing.T) {
	hbTime := "2026-11-23T10:15:00.5Z"
	_, got := decodeAll(t, Config{HeartbeatPrefix: "cdcflow.heartbeat"},
		encMessage(false, 0x500, "cdcflow.heartbeat", hbTime),
		encMessage(false, 0x600, "cdcflow.heartbeat", "not a time"),
		encMessage(false, 0x700, "other", "x"),
		encMessage(false, 0x800, "cdcflow.heartbeat.extra", "x"),
		encBegin(0x900, t0, 5),
		encOrigin(0x42, "upstream"),
		encMessage(true, 0x880, "cdcflow.heartbeat", "in a transaction"),
		encCommit(0x900, 0x910, t0),
	)
	want := []capture.Message{
		&capture.Marker{Kind: capture.MarkerHeartbeat, LSN: 0x500, Time: time.Date(2026, 11, 23, 10, 15, 0, 5e8, time.UTC)},
		&capture.Marker{Kind: capture.MarkerHeartbeat, LSN: 0x600},
		&capture.Begin{FinalLSN: 0x900, XID: 5, CommitTime: t0},
		&capture.Commit{FinalLSN: 0x900, EndLSN: 0x910, XID: 5, CommitTime: t0},
	}
	assertMessages(t, got, want)

	// Without a prefix configured nothing is a heartbeat.
	_, got = decodeAll(t, Config{}, encMessage(false, 0x500, "cdcflow.heartbeat", hbTime))
	if len(got) != 0 {
		t.Errorf("with no HeartbeatPrefix got %s", render(got))
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		msgs [][]byte // all but the last must decode
		want string   // in the error
	}{
		{"empty", [][]byte{{}}, "empty message"},
		{"unknown type", [][]byte{{'Z'}}, "unknown message type 'Z'"},
		{"stream start (v2)", [][]byte{{'S', 0, 0, 0, 1, 1}}, "protocol version 2"},
		{"truncated begin", [][]byte{encBegin(1, t0, 1)[:10]}, "truncated"},
		{"trailing bytes", [][]byte{append(encBegin(1, t0, 1), 0)}, "unexpected bytes"},
		{"unterminated string", [][]byte{enc{'R'}.u32(1).append("public")}, "not terminated"},
		{"insert outside transaction", [][]byte{ordersRel, encInsert(16400, txt("1"), null, null, null)}, "outside a transaction"},
		{"unknown relation", [][]byte{encBegin(1, t0, 1), encInsert(7, txt("1"))}, "relation 7 was not announced"},
		{"nested begin", [][]byte{encBegin(1, t0, 1), encBegin(2, t0, 2)}, "inside transaction"},
		{"commit without begin", [][]byte{encCommit(1, 2, t0)}, "without a begin"},
		{"commit of another transaction", [][]byte{encBegin(1, t0, 1), encCommit(2, 3, t0)}, "began with final LSN"},
		{"column count mismatch", [][]byte{ordersRel, encBegin(1, t0, 1), encInsert(16400, txt("1"))}, "has 1 columns"},
		{"bad value", [][]byte{ordersRel, encBegin(1, t0, 1), encInsert(16400, txt("x"), null, null, null)}, `column "id" of type int8`},
		{"binary value", [][]byte{ordersRel, encBegin(1, t0, 1), encInsert(16400, tv{'b', "\x00"}, null, null, null)}, "binary format"},
		{"unknown tuple kind", [][]byte{ordersRel, encBegin(1, t0, 1), encInsert(16400, tv{kind: 'x'}, null, null, null)}, "unknown tuple data kind"},
		{"negative length", [][]byte{ordersRel, encBegin(1, t0, 1), enc{'I'}.u32(16400).u8('N').u16(4).u8('t').u32(0xFFFFFFFF)}, "negative length"},
		{"huge length", [][]byte{ordersRel, encBegin(1, t0, 1), enc{'I'}.u32(16400).u8('N').u16(4).u8('t').u32(0x7FFFFFFF)}, "truncated"},
		{"insert without N", [][]byte{ordersRel, encBegin(1, t0, 1), enc{'I'}.u32(16400).u8('K').tuple([]tv{txt("1"), null, null, null})}, "want new tuple"},
		{"delete without old", [][]byte{ordersRel, encBegin(1, t0, 1), enc{'D'}.u32(16400).u8('N').tuple([]tv{txt("1"), null, null, null})}, "without an old tuple"},
		{"truncate of nothing", [][]byte{encBegin(1, t0, 1), encTruncate(0)}, "truncate of 0 relations"},
		{"truncate count lies", [][]byte{encBegin(1, t0, 1), enc{'T'}.u32(1 << 30).u8(0).u32(16400)}, "truncate of 1073741824 relations"},
		{"negative column count", [][]byte{enc{'R'}.u32(1).str("s").str("t").u8('d').u16(-1)}, "negative column count"},
		{"bad replica identity", [][]byte{encRelation(1, "s", "t", 'x')}, "unknown replica identity"},
		{"huge column count", [][]byte{enc{'R'}.u32(1).str("s").str("t").u8('d').u16(32767)}, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			last := len(tt.msgs) - 1
			for i, m := range tt.msgs[:last] {
				if _, err := d.Decode(capture.LSN(i), m); err != nil {
					t.Fatalf("Decode(setup message %d): %v", i, err)
				}
			}
			got, err := d.Decode(0x16B374D848, tt.msgs[last])
			if err == nil {
				t.Fatalf("Decode(%x) = %v; want an error containing %q", tt.msgs[last], got, tt.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%x) error %T is not a *DecodeError", tt.msgs[last], err)
			}
			if de.LSN != 0x16B374D848 {
				t.Errorf("DecodeError.LSN = %s; want 16/B374D848", de.LSN)
			}
			if len(tt.msgs[last]) > 0 && de.MsgType != tt.msgs[last][0] {
				t.Errorf("DecodeError.MsgType = %q; want %q", de.MsgType, tt.msgs[last][0])
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%x) error %q; want it to contain %q", tt.msgs[last], err, tt.want)
			}
		})
	}
}

// Every strict prefix of a valid message is truncated input and must fail.
func TestDecodeTruncatedPrefixes(t *testing.T) {
	setup := [][]byte{ordersFull, encBegin(0x100, t0, 5)}
	msgs := [][]byte{
		encBegin(0x200, t0, 6),
		encCommit(0x100, 0x110, t0),
		ordersRel,
		encType(16500, "public", "mood"),
		encInsert(16400, txt("1"), txt("x"), txt("1.5"), txt("{}")),
		encUpdate(16400, 'O', []tv{txt("1"), null, null, null}, []tv{txt("1"), null, null, unchanged}),
		encDelete(16400, 'O', txt("1"), null, null, null),
		encTruncate(truncCascade, 16400),
		encMessage(false, 0x500, "p", "content"),
		encOrigin(0x42, "o"),
	}
	for _, m := range msgs {
		for n := range len(m) {
			d := NewDecoder(Config{HeartbeatPrefix: "p"})
			for _, s := range setup {
				if _, err := d.Decode(1, s); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := d.Decode(2, m[:n]); err == nil {
				t.Errorf("Decode(%x), a %d-byte prefix of %x = %v; want an error", m[:n], n, m, got)
			}
		}
	}
}

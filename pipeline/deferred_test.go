package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// fakeEncoded is a capture.Encoded that counts its decodes: it decodes to
// val, or fails with err.
type fakeEncoded struct {
	text    string
	val     capture.Value
	err     error
	decodes *int
}

func (e *fakeEncoded) Decode() (capture.Value, error) {
	*e.decodes++
	if e.err != nil {
		return capture.Value{}, e.err
	}
	return e.val, nil
}

func (e *fakeEncoded) Len() int       { return len(e.text) }
func (e *fakeEncoded) String() string { return e.text }

// deferValues returns vals with every decoded value replaced by an encoded
// one that decodes to it, counting decodes in n.
func deferValues(vals []capture.Value, n *int) []capture.Value {
	if vals == nil {
		return nil
	}
	out := make([]capture.Value, len(vals))
	for i, v := range vals {
		if v.Kind == capture.KindValue {
			v = capture.Value{Kind: capture.KindEncoded, Data: &fakeEncoded{text: fmt.Sprint(v.Data), val: v, decodes: n}}
		}
		out[i] = v
	}
	return out
}

// TestGoldenDeferred maps every golden stream again with its values
// encoded, as capture hands them on when it defers decoding: the events must
// be the golden ones, byte for byte.
func TestGoldenDeferred(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "stream.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			s := readStream(t, p)
			m := loadMapping(t, s.mappingPath, LoadOptions{Timezone: s.timezone})
			want := runStream(t, m, s, MapperOptions{Validate: m.schemas != nil})
			decodes, values := 0, 0
			for i, msg := range s.msgs {
				c, ok := msg.(*capture.Change)
				if !ok {
					continue
				}
				for _, v := range append(append([]capture.Value(nil), c.Old...), c.New...) {
					if v.Kind == capture.KindValue {
						values++
					}
				}
				d := *c
				d.Old, d.New = deferValues(c.Old, &decodes), deferValues(c.New, &decodes)
				s.msgs[i] = &d
			}
			got := runStream(t, m, s, MapperOptions{Validate: m.schemas != nil})
			if !reflect.DeepEqual(got, want) {
				a, _ := json.MarshalIndent(want, "", "  ")
				b, _ := json.MarshalIndent(got, "", "  ")
				t.Fatalf("events differ with deferred values:\n%s", lineDiff(string(a), string(b)))
			}
			t.Logf("%d decodes of %d values", decodes, values)
			deadLetters := slices.ContainsFunc(want, func(e goldenEvent) bool { return e.DeadLetter })
			// A dead letter decodes its change's every column again.
			if decodes == 0 || !deadLetters && decodes >= values {
				t.Errorf("%d decodes of %d values; want some, and fewer than the values: no mapping reads every column", decodes, values)
			}
		})
	}
}

// docsMapping reads the id and the state of the new row and nothing else.
const docsMapping = `version: 1
tables:
  - table: public.docs
    aggregate:
      type: doc
      id: string(row.id)
    events:
      - type: DocRevised
        version: 1
        when: op == "update" && row.state != "void"
        data:
          id: row.id
          state: row.state
          label: '"doc " + row.state'
`

func docsRel() *capture.Relation {
	return &capture.Relation{Schema: "public", Table: "docs", ReplicaIdentity: capture.IdentityFull, Columns: []capture.Column{
		{Name: "id", TypeName: "int8", Key: true},
		{Name: "state", TypeName: "text", Key: true},
		{Name: "memo", TypeName: "text", Key: true},
		{Name: "attrs", TypeName: "jsonb", Key: true},
	}}
}

// TestDeferredColumnsNotReadAreNotDecoded maps an update whose old row and
// unread new columns would fail to decode: the mapping never decodes them,
// decodes each column it reads once however often its rules read it, and
// maps the change as it maps the decoded one.
func TestDeferredColumnsNotReadAreNotDecoded(t *testing.T) {
	rel := docsRel()
	m, err := Parse("m.yaml", []byte(docsMapping), nil, LoadOptions{Schema: SchemaOf(rel)})
	if err != nil {
		t.Fatal(err)
	}
	decoded := []capture.Value{
		{Kind: capture.KindValue, Data: int64(7)},
		{Kind: capture.KindValue, Data: "open"},
		{Kind: capture.KindValue, Data: strings.Repeat("m", 9000)},
		{Kind: capture.KindValue, Data: json.RawMessage(`{"a":1}`)},
	}
	var read, unread int
	broken := errors.New("must not be decoded")
	enc := func(v capture.Value, fail bool) capture.Value {
		e := &fakeEncoded{text: fmt.Sprint(v.Data), val: v, decodes: &read}
		if fail {
			e.err, e.decodes = broken, &unread
		}
		return capture.Value{Kind: capture.KindEncoded, Data: e}
	}
	lazy := []capture.Value{enc(decoded[0], false), enc(decoded[1], false), enc(decoded[2], true), enc(decoded[3], true)}
	old := []capture.Value{enc(decoded[0], true), enc(decoded[1], true), enc(decoded[2], true), enc(decoded[3], true)}

	mapOne := func(c *capture.Change) []Event {
		t.Helper()
		mp, err := NewMapper(m, MapperOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "1", Timeline: 1, Database: "db"}})
		var out []Event
		mp.Begin(&capture.Begin{FinalLSN: 0x50})
		if err := mp.Change(c, collect(&out)); err != nil {
			t.Fatal(err)
		}
		if err := mp.Commit(&capture.Commit{FinalLSN: 0x50, EndLSN: 0x60}, collect(&out)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := mapOne(&capture.Change{Op: capture.OpUpdate, FinalLSN: 0x50, Relation: rel, Old: decoded, New: decoded})
	got := mapOne(&capture.Change{Op: capture.OpUpdate, FinalLSN: 0x50, Relation: rel, Old: old, New: lazy})
	if len(want) != 1 || want[0].DeadLetter {
		t.Fatalf("decoded change mapped to %+v; want one DocRevised", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deferred change mapped to %+v; want %+v", got, want)
	}
	if unread != 0 {
		t.Errorf("%d decodes of columns no rule reads; want none", unread)
	}
	if read != 2 {
		t.Errorf("%d decodes of the two columns the rules read (state three times); want 2", read)
	}
}

// TestDeferredColumnThatDoesNotDecode checks that a column a rule reads and
// that does not decode sends the change to the dead-letter topic, with the
// text PostgreSQL sent in its row.
func TestDeferredColumnThatDoesNotDecode(t *testing.T) {
	rel := docsRel()
	m, err := Parse("m.yaml", []byte(docsMapping), nil, LoadOptions{Schema: SchemaOf(rel)})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := NewMapper(m, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "1", Timeline: 1, Database: "db"}})
	n := 0
	bad := capture.Value{Kind: capture.KindEncoded, Data: &fakeEncoded{text: "\\xzz", err: errors.New("bad text"), decodes: &n}}
	id := capture.Value{Kind: capture.KindValue, Data: int64(7)}
	var out []Event
	mp.Begin(&capture.Begin{FinalLSN: 0x50})
	c := &capture.Change{Op: capture.OpUpdate, FinalLSN: 0x50, Relation: rel,
		New: []capture.Value{id, bad, {Kind: capture.KindNull}, {Kind: capture.KindNull}}}
	if err := mp.Change(c, collect(&out)); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || !out[0].DeadLetter {
		t.Fatalf("got %+v; want one dead letter", out)
	}
	var dl DeadLetter
	if err := json.Unmarshal(out[0].Data, &dl); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dl.Reason, "bad text") || string(dl.Row) != `{"id":7,"state":"\\xzz","memo":null,"attrs":null}` {
		t.Errorf("dead letter reason %q, row %s; want the decode error and the sent text", dl.Reason, dl.Row)
	}
}

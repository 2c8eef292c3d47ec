package pipeline

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

// TestMapperClone checks that Bind reports what Change would, and that a
// clone, which shares the bindings made in stream order, maps a change of
// a shape the binder has since replaced exactly as the original Mapper
// did.
func TestMapperClone(t *testing.T) {
	m, err := Parse("m.yaml", []byte(goodMapping), nil, LoadOptions{Schema: SchemaOf(ordersRel(capture.IdentityFull))})
	if err != nil {
		t.Fatal(err)
	}
	orig := ordersRel(capture.IdentityFull)
	widened := ordersRel(capture.IdentityFull)
	widened.Columns = append(widened.Columns, capture.Column{Name: "note", TypeName: "text"})
	dropped := ordersRel(capture.IdentityFull)
	dropped.Columns = dropped.Columns[:2]

	update := func(rel *capture.Relation) *capture.Change {
		vals := func(status string) []capture.Value {
			v := []capture.Value{
				{Kind: capture.KindValue, Data: int64(7)},
				{Kind: capture.KindValue, Data: status},
				{Kind: capture.KindValue, Data: capture.Numeric("12.50")},
				{Kind: capture.KindNull},
			}
			for len(v) < len(rel.Columns) {
				v = append(v, capture.Value{Kind: capture.KindNull})
			}
			return v[:len(rel.Columns)]
		}
		return &capture.Change{Op: capture.OpUpdate, FinalLSN: 0x100, Relation: rel, New: vals("C"), Old: vals("N")}
	}
	mapOne := func(mp *Mapper, c *capture.Change) ([]string, error) {
		var out []string
		mp.Connected(&capture.Connected{Source: capture.Source{SystemID: "1", Database: "d", Timeline: 1}})
		mp.Begin(&capture.Begin{FinalLSN: c.FinalLSN})
		err := mp.Change(c, func(e Event) { out = append(out, e.Type+" "+e.ID+" "+string(e.Data)) })
		if err == nil {
			err = mp.Commit(&capture.Commit{FinalLSN: c.FinalLSN, EndLSN: c.FinalLSN + 8}, func(e Event) { out = append(out, e.Type) })
		}
		return out, err
	}

	single, err := NewMapper(m, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := mapOne(single, update(orig))
	if err != nil || len(want) == 0 {
		t.Fatalf("the original Mapper mapped %v (%v); want events", want, err)
	}

	binder, err := NewMapper(m, MapperOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clone := binder.Clone()
	if err := binder.Bind(orig); err != nil {
		t.Fatal(err)
	}
	c := update(orig) // handed on before the table changed shape
	if err := binder.Bind(widened); err != nil {
		t.Fatalf("Bind(a column added) = %v; want nil", err)
	}
	got, err := mapOne(clone, c)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("the clone mapped the old shape to %v (%v); want %v", got, err, want)
	}
	// The next shape is checked against the one before it, in stream
	// order, and Bind says what Change then says.
	bindErr := binder.Bind(dropped)
	var rb *RuleBrokenError
	if !errors.As(bindErr, &rb) || !strings.Contains(bindErr.Error(), "which was dropped") {
		t.Fatalf("Bind(a used column dropped) = %v; want a *RuleBrokenError", bindErr)
	}
	if _, err := mapOne(clone.Clone(), update(dropped)); err == nil || err.Error() != bindErr.Error() {
		t.Fatalf("a clone's Change = %v; want Bind's error %v", err, bindErr)
	}
}

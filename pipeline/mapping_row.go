package pipeline

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/jsonx"
)

// binding is a table's rules bound to one *capture.Relation: column positions
// resolved once per relation rather than once per row.
type binding struct {
	rel    *capture.Relation
	t      *tableInfo
	index  map[string]int
	hidden []bool // excluded columns
	// broken is set when the relation breaks a rule and the Mapper was told to
	// dead-letter the table's changes rather than stop.
	broken *RuleBrokenError
}

func newBinding(rel *capture.Relation, t *tableInfo) *binding {
	b := &binding{rel: rel, t: t, index: make(map[string]int, len(rel.Columns)), hidden: make([]bool, len(rel.Columns))}
	for i, c := range rel.Columns {
		b.index[c.Name] = i
		b.hidden[i] = t.exclude[c.Name]
	}
	return b
}

// lookup returns the captured value of the named column and whether the
// relation has such a visible column.
func (b *binding) lookup(vals []capture.Value, name string) (capture.Value, bool) {
	i, ok := b.index[name]
	if !ok || b.hidden[i] || i >= len(vals) {
		return capture.Value{}, false
	}
	return vals[i], true
}

// rowVal is a row as a CEL map from column name to value. Columns that were not
// sent, unchanged TOAST values and excluded columns are absent. Values are
// decoded (when capture deferred their decoding) and converted on access, so
// a rule pays only for the columns it reads.
type rowVal struct {
	b    *binding
	vals []capture.Value
	loc  *time.Location
	// dec holds the decoded values of vals' encoded columns, each decoded
	// on its first read during the change (KindAbsent: not yet). The
	// activation keeps it from change to change.
	dec []capture.Value
}

// reset points r at the values of another change, keeping dec's memory.
func (r *rowVal) reset(b *binding, vals []capture.Value, loc *time.Location) {
	r.b, r.vals, r.loc = b, vals, loc
	r.dec = slices.Grow(r.dec[:0], len(vals))[:len(vals)]
	clear(r.dec)
}

// value returns the value of column i, decoded.
func (r *rowVal) value(i int) (capture.Value, error) {
	v := r.vals[i]
	if v.Kind != capture.KindEncoded {
		return v, nil
	}
	if i < len(r.dec) && r.dec[i].Kind != capture.KindAbsent {
		return r.dec[i], nil
	}
	d, err := v.Decoded()
	if err != nil {
		return capture.Value{}, err
	}
	if i < len(r.dec) {
		r.dec[i] = d
	}
	return d, nil
}

// column returns the decoded value of the named column and whether the row
// has such a visible column.
func (r *rowVal) column(name string) (capture.Value, bool, error) {
	if r.b == nil {
		return capture.Value{}, false, nil
	}
	i, ok := r.b.index[name]
	if !ok || r.b.hidden[i] || i >= len(r.vals) {
		return capture.Value{}, false, nil
	}
	v, err := r.value(i)
	return v, true, err
}

var (
	_ traits.Mapper = (*rowVal)(nil)
)

func (r *rowVal) present(i int) bool {
	if i >= len(r.vals) || r.b.hidden[i] {
		return false
	}
	return r.vals[i].Sent()
}

// Find implements traits.Mapper.
func (r *rowVal) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok || r.b == nil {
		return nil, false
	}
	i, ok := r.b.index[string(k)]
	if !ok || !r.present(i) {
		return nil, false
	}
	v, err := r.value(i)
	if err != nil {
		return types.WrapErr(err), true
	}
	return toCEL(v, r.loc), true
}

// Get implements traits.Indexer.
func (r *rowVal) Get(key ref.Val) ref.Val {
	if v, ok := r.Find(key); ok {
		return v
	}
	return types.NewErr("no such column: %v", key)
}

// Contains implements traits.Container.
func (r *rowVal) Contains(key ref.Val) ref.Val {
	_, ok := r.Find(key)
	return types.Bool(ok)
}

// Size implements traits.Sizer.
func (r *rowVal) Size() ref.Val {
	n := 0
	for i := range r.vals {
		if r.b != nil && i < len(r.b.hidden) && r.present(i) {
			n++
		}
	}
	return types.Int(n)
}

// Iterator implements traits.Iterable: the present column names in column order.
func (r *rowVal) Iterator() traits.Iterator {
	var names []string
	if r.b != nil {
		for i := range r.vals {
			if i < len(r.b.hidden) && r.present(i) {
				names = append(names, r.b.rel.Columns[i].Name)
			}
		}
	}
	return &nameIter{names: names}
}

// ConvertToNative implements ref.Val: a map[string]any of the Go values.
func (r *rowVal) ConvertToNative(typeDesc reflect.Type) (any, error) {
	out := map[string]any{}
	for it := r.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		v, err := r.Get(k).ConvertToNative(reflect.TypeFor[any]())
		if err != nil {
			return nil, err
		}
		out[string(k.(types.String))] = v
	}
	return types.DefaultTypeAdapter.NativeToValue(out).ConvertToNative(typeDesc)
}

// ConvertToType implements ref.Val.
func (r *rowVal) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return r
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to '%s'", t)
}

// Equal implements ref.Val: rows equal maps with the same entries.
func (r *rowVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if r.Size() != o.Size() {
		return types.False
	}
	for it := r.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		ov, found := o.Find(k)
		if !found || r.Get(k).Equal(ov) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (r *rowVal) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (r *rowVal) Value() any { return r }

// appendJSON writes the row's present columns as a JSON object, in column
// order; used when a rule puts a whole row into an event.
func (r *rowVal) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	first := true
	for i := range r.vals {
		if r.b == nil || i >= len(r.b.hidden) || !r.present(i) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonx.AppendString(b, r.b.rel.Columns[i].Name)
		b = append(b, ':')
		v, err := r.value(i)
		if err != nil {
			return b, err
		}
		if b, err = appendValueJSON(b, v, false); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// nameIter is a traits.Iterator over a row's column names.
type nameIter struct {
	names []string
	i     int
}

func (it *nameIter) HasNext() ref.Val { return types.Bool(it.i < len(it.names)) }
func (it *nameIter) Next() ref.Val {
	if it.i >= len(it.names) {
		return types.NewErr("iterator past end")
	}
	it.i++
	return types.String(it.names[it.i-1])
}
func (it *nameIter) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("an iterator has no native form")
}
func (it *nameIter) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("iterator has no type conversion")
}
func (it *nameIter) Equal(ref.Val) ref.Val { return types.False }
func (it *nameIter) Type() ref.Type        { return types.IteratorType }
func (it *nameIter) Value() any            { return it }

// activation is what rule expressions see while one change is mapped. A Mapper
// owns one and refills it for each change, so evaluation allocates little.
type activation struct {
	op     types.String
	row    rowVal
	old    rowVal
	hasOld bool
	tx     ref.Val
	source types.String
	table  types.String
	self   changeRef
	c      *capture.Change
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "op":
		return a.op, true
	case "row":
		return &a.row, true
	case "old":
		return &a.old, true
	case "tx":
		return a.tx, true
	case "source":
		return a.source, true
	case "table":
		return a.table, true
	case ctxVar:
		return a.self, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// changed reports whether an UPDATE changed the column. It needs the old value:
// without it (no REPLICA IDENTITY FULL) the answer is an error, which sends the
// change to the dead-letter topic, rather than a guess.
func (a *activation) changed(col string) ref.Val {
	if a.c == nil {
		return types.False
	}
	switch a.c.Op {
	case capture.OpInsert:
		return types.True
	case capture.OpUpdate:
	default:
		return types.False
	}
	// An UPDATE's row is c.New and its old row c.Old.
	nv, ok, err := a.row.column(col)
	if !ok {
		return types.NewErr("changed(%q): no such column", col)
	}
	if err != nil {
		return types.WrapErr(fmt.Errorf("changed(%q): %w", col, err))
	}
	if nv.Kind == capture.KindUnchangedTOAST {
		return types.False
	}
	if !a.hasOld {
		return types.NewErr("changed(%q) needs the old row, which PostgreSQL did not send: set REPLICA IDENTITY FULL", col)
	}
	ov, ok, err := a.old.column(col)
	if err != nil {
		return types.WrapErr(fmt.Errorf("changed(%q): %w", col, err))
	}
	if !ok || ov.Kind == capture.KindAbsent {
		return types.NewErr("changed(%q) needs the old row, which PostgreSQL did not send: set REPLICA IDENTITY FULL", col)
	}
	if ov.Kind == capture.KindUnchangedTOAST {
		return types.False
	}
	if ov.Kind != nv.Kind {
		return types.True
	}
	if nv.Kind == capture.KindNull {
		return types.False
	}
	return types.Bool(!reflect.DeepEqual(ov.Data, nv.Data))
}

// unchanged reports whether the column is an unchanged TOAST value PostgreSQL
// did not send.
func (a *activation) unchanged(col string) bool {
	if a.c == nil {
		return false
	}
	v, ok := a.row.b.lookup(a.row.vals, col)
	return ok && v.Kind == capture.KindUnchangedTOAST
}

// changeRef carries the activation into the changed and unchanged functions;
// it is an opaque CEL value rules cannot name.
type changeRef struct{ a *activation }

var changeRefType = types.NewOpaqueType("pipeline.change")

func (c changeRef) ConvertToNative(reflect.Type) (any, error) { return c.a, nil }
func (c changeRef) ConvertToType(ref.Type) ref.Val            { return types.NewErr("no conversion") }
func (c changeRef) Equal(ref.Val) ref.Val                     { return types.False }
func (c changeRef) Type() ref.Type                            { return changeRefType }
func (c changeRef) Value() any                                { return c.a }

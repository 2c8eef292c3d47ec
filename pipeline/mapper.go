package pipeline

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/jsonx"
)

// MapperOptions configures a Mapper. The zero value emits events without
// validating them and stops on a rule broken by a schema change.
type MapperOptions struct {
	// Validate checks every event's data against the JSON Schema of its type and
	// version before it leaves; an event that fails goes to the dead-letter topic.
	// It needs a mapping with schemas.
	Validate bool
	// DeadLetterBrokenRules sends the changes of a table whose new shape breaks a
	// rule to the dead-letter topic instead of returning a *RuleBrokenError.
	DeadLetterBrokenRules bool
}

// Mapper turns capture messages into events with a Mapping. It is pure (no I/O,
// clock or goroutine) but keeps per-transaction state so that a rule can gather
// the rows of one transaction: call Connected once per replication session,
// then for each transaction Begin, Change for each change and Commit; Marker
// between transactions. Snapshot rows (OpRead) may come outside a transaction.
//
// Events are handed to emit as they are ready; an aggregate's events always
// come in Position order. Changes that cannot be mapped come out as dead-letter
// events (Event.DeadLetter) and the flow goes on; the methods return an error
// only when the mapping no longer fits the source (*RuleBrokenError), which
// should stop the pipeline.
//
// A Mapper is not safe for concurrent use. Clone makes Mappers that share
// the relation bindings and may each be used by a goroutine of its own.
type Mapper struct {
	m        *Mapping
	opts     MapperOptions
	maxEvent int // the mapping's max_event_bytes, or lower (LimitEventBytes)
	source   string
	// bs is shared with the clones; local caches what this Mapper found
	// there, so that a change of a known relation takes no lock.
	bs    *bindState
	local map[*capture.Relation]*binding

	act   activation
	txKey struct {
		lsn  capture.LSN
		xid  uint32
		time int64
		set  bool
	}

	pending      []*pendingEvent
	byAgg        map[aggKey]*pendingEvent
	pendingBytes int

	buf       []byte
	unchanged []string
}

type aggKey struct{ typ, id string }

// bindState is the relations a Mapper and its clones have checked their
// rules against. Relations are bound in stream order when the caller binds
// each one (Bind) before handing the change to any clone.
type bindState struct {
	mu       sync.Mutex
	bindings map[*capture.Relation]*binding
	current  map[TableName]*capture.Relation
	known    map[TableName]map[string]string // column types the rules were checked against
	retired  []*capture.Relation             // replaced relations, oldest first, still in bindings
}

// maxRetired is how many replaced relations keep their bindings: more than
// the changes a Flow can have in flight can refer to.
const maxRetired = 1024

// heldEventBytes is what a held (gathering) event costs besides its data
// and its strings, and counts against max_gather_bytes with them: the
// pendingEvent and its Event (256 bytes), its items' slice headers, its
// entries in byAgg and pending (with their spare capacity), and the
// allocator's rounding. A heap profile of a transaction of a million
// gathering rows held about 700 bytes per event besides its data; without
// counting them, max_gather_bytes let several times its value be held.
// TestGatherCountsWhatItHolds compares the count with the heap.
const heldEventBytes = 512

// pendingEvent is a gathering event held until its transaction commits.
type pendingEvent struct {
	ev    Event
	rule  *eventRule
	head  []byte   // the data object without its closing brace
	items [][]byte // per gather of rule: the items joined by commas
	size  int      // what it holds, as counted against max_gather_bytes
}

// NewMapper returns a Mapper for m. A nil m is an error.
func NewMapper(m *Mapping, opts MapperOptions) (*Mapper, error) {
	if m == nil {
		return nil, errors.New("new mapper: no mapping")
	}
	if opts.Validate && m.schemas == nil {
		return nil, fmt.Errorf("new mapper: validation asked for, but mapping %s names no schemas: add a schemas directory to the mapping (schemas: schemas, one JSON Schema per event type and version), or turn validation off (mapping.no_validation: true, CDCFLOW_MAPPING_NO_VALIDATION=true)", m.file)
	}
	return &Mapper{
		m:        m,
		opts:     opts,
		maxEvent: m.maxEventBytes,
		bs: &bindState{
			bindings: map[*capture.Relation]*binding{},
			current:  map[TableName]*capture.Relation{},
			known:    map[TableName]map[string]string{},
		},
		local: map[*capture.Relation]*binding{},
		byAgg: map[aggKey]*pendingEvent{},
	}, nil
}

// Clone returns a Mapper with mp's mapping, options and event size limit
// that shares mp's relation bindings (which tables the mapping reads, and
// the rule checks of each table shape) but nothing else: it keeps its own
// transaction state and needs its own Connected. mp and its clones may be
// used concurrently, each by one goroutine at a time, for example to map
// different transactions in parallel.
func (mp *Mapper) Clone() *Mapper {
	return &Mapper{
		m:        mp.m,
		opts:     mp.opts,
		maxEvent: mp.maxEvent,
		source:   mp.source,
		bs:       mp.bs,
		local:    map[*capture.Relation]*binding{},
		byAgg:    map[aggKey]*pendingEvent{},
		act:      activation{source: mp.act.source},
	}
}

// Bind checks the mapping's rules against rel, as Change does the first time
// it meets a relation, and returns the *RuleBrokenError Change would return
// (nil otherwise). Mappers sharing bindings (Clone) that map changes in
// parallel stay deterministic when the caller binds every relation in
// stream order before any of them maps a change of it: a table's new shape
// is then always checked against the shape before it.
func (mp *Mapper) Bind(rel *capture.Relation) error {
	_, err := mp.bind(rel)
	return err
}

// LimitEventBytes lowers the largest event data the Mapper emits to n when n
// is below the mapping's max_event_bytes (a sink whose records must fit a
// broker's limit); larger events become dead letters by reference, as do
// dead letters that would be larger (their row is left out). n <= 0 or above
// the mapping's limit changes nothing. Call it before the first change.
func (mp *Mapper) LimitEventBytes(n int) {
	if n > 0 && n < mp.m.maxEventBytes {
		mp.maxEvent = n
	}
}

// Connected records the source the following messages come from; events take
// their Source and IDs from it. Anything gathered from a transaction the
// previous session left open is dropped.
func (mp *Mapper) Connected(c *capture.Connected) {
	mp.reset() // a new session resends any transaction left open
	mp.source = c.Source.URI()
	mp.act.source = types.String(mp.source)
}

// Begin starts a transaction. Anything still gathered from a transaction that
// never committed (a stream restarted mid-transaction) is dropped: the
// transaction will be sent again.
func (mp *Mapper) Begin(*capture.Begin) {
	mp.reset()
}

func (mp *Mapper) reset() {
	for _, p := range mp.pending {
		delete(mp.byAgg, aggKey{p.ev.AggregateType, p.ev.AggregateID})
	}
	mp.pending = mp.pending[:0]
	mp.pendingBytes = 0
}

// Commit ends the transaction: the events still gathering leave, in position
// order.
func (mp *Mapper) Commit(c *capture.Commit, emit func(Event)) error {
	mp.flushAll(emit)
	return nil
}

// Marker turns snapshot begin and end markers into control events for every
// aggregate type of the epoch's tables. Heartbeats produce nothing.
func (mp *Mapper) Marker(mk *capture.Marker, emit func(Event)) {
	var kind ControlKind
	var index uint32
	switch mk.Kind {
	case capture.MarkerSnapshotBegin:
		kind = ControlSnapshotBegin
	case capture.MarkerSnapshotEnd:
		// After every row of the epoch, whose index is a row counter.
		kind, index = ControlSnapshotEnd, ^uint32(0)
	default:
		return
	}
	aggs := mp.m.aggregateTypesOf(mk.Tables)
	for i, agg := range aggs {
		pos := MakePosition(mk.LSN, index, uint16(i))
		data := append([]byte(`{"epoch":`), strconv.FormatUint(mk.Epoch, 10)...)
		data = append(data, `,"tables":`...)
		data = appendTableList(data, mk.Tables)
		data = append(data, '}')
		emit(Event{
			ID:            EventID(mp.source, pos),
			Source:        mp.source,
			Type:          controlType(kind),
			Version:       1,
			AggregateType: agg,
			Position:      pos,
			LSN:           mk.LSN,
			Time:          mk.Time,
			Epoch:         mk.Epoch,
			Data:          data,
			Control:       kind,
		})
	}
}

func appendTableList(b []byte, rels []*capture.Relation) []byte {
	b = append(b, '[')
	for i, r := range rels {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, RelationName(r).String())
	}
	return append(b, ']')
}

// aggregateTypesOf returns the aggregate types the given tables feed, sorted:
// their own, and those of the events that gather their rows.
func (m *Mapping) aggregateTypesOf(rels []*capture.Relation) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, r := range rels {
		t := m.tables[RelationName(r)]
		if t == nil {
			continue
		}
		add(t.aggType)
		for _, g := range t.gathers {
			add(g.owner.aggType)
		}
	}
	slices.Sort(out)
	return out
}

// Change maps one change. It returns a *RuleBrokenError when the change's
// relation is new and no longer fits a rule (unless DeadLetterBrokenRules);
// every other problem becomes a dead-letter event.
func (mp *Mapper) Change(c *capture.Change, emit func(Event)) error {
	if c.Op == capture.OpTruncate {
		mp.truncate(c, emit)
		return nil
	}
	if c.Relation == nil {
		return nil
	}
	b, err := mp.bind(c.Relation)
	if err != nil {
		return err
	}
	if b == nil {
		return nil // a table the mapping does not read
	}
	mp.prepare(c, b)
	if b.broken != nil && (!b.broken.OldRowMissing || c.Op == capture.OpUpdate || c.Op == capture.OpDelete) {
		// A table that only lost its old rows still maps its inserts (and
		// snapshot rows): only its updates and deletes lack what a rule needs.
		emit(mp.deadLetter(c, b, b.broken.Rule, 0, b.broken.Error(), nil))
		return nil
	}
	if c.Op != capture.OpRead && len(b.t.gathers) > 0 && mp.absorb(c, b, emit) {
		return nil
	}
	t := b.t
	if t.aggType == "" {
		return nil
	}
	var ordinal uint16
	var aggID string
	var aggErr error
	aggDone := false
	rules := t.events
	if c.Op == capture.OpRead {
		rules = t.stateRules
	}
	for _, r := range rules {
		ord := ordinal
		ordinal++
		if r.when != nil {
			if r.when.ops != 0 && r.when.ops&(1<<c.Op) == 0 {
				ordinal--
				continue
			}
			ok, err := evalBool(r.when, &mp.act)
			if err != nil {
				emit(mp.deadLetter(c, b, r.name, ord, "when: "+err.Error(), nil))
				continue
			}
			if !ok {
				ordinal--
				continue
			}
		}
		if !aggDone {
			aggID, aggErr = mp.aggregateID(t)
			aggDone = true
		}
		if aggErr != nil {
			emit(mp.deadLetter(c, b, r.name, ord, aggErr.Error(), nil))
			continue
		}
		// The aggregate's gathering event, if any, leaves first: it comes
		// before this change.
		key := aggKey{t.aggType, aggID}
		mp.flushAgg(key, emit)
		data, err := mp.appendFields(mp.buf[:0], r.fields, b)
		mp.buf = data
		if err != nil {
			emit(mp.deadLetter(c, b, r.name, ord, err.Error(), nil))
			continue
		}
		pos := MakePosition(c.FinalLSN, c.Index, ord)
		if c.Op == capture.OpRead {
			pos = SnapshotPosition(c.FinalLSN, c.Index, ord)
		}
		ev := Event{
			Source:        mp.source,
			Type:          r.typ,
			Version:       r.version,
			AggregateType: t.aggType,
			AggregateID:   aggID,
			Position:      pos,
			LSN:           c.FinalLSN,
			XID:           c.XID,
			Time:          c.CommitTime,
		}
		if c.Op == capture.OpRead {
			ev.ID = SnapshotEventID(mp.source, c.Epoch, t.label, mp.keyText(c, b)...)
			ev.Epoch = c.Epoch
		} else {
			ev.ID = EventID(mp.source, pos)
		}
		if len(r.gathers) > 0 && c.Op != capture.OpRead {
			p := &pendingEvent{ev: ev, rule: r, head: bytes.Clone(data), items: make([][]byte, len(r.gathers))}
			p.size = cap(p.head) + heldEventBytes + len(p.ev.ID) + len(p.ev.Position) + len(p.ev.AggregateID)
			mp.pending = append(mp.pending, p)
			mp.byAgg[key] = p
			mp.pendingBytes += p.size
			if mp.pendingBytes > mp.m.maxGatherBytes {
				mp.flushAll(emit)
			}
			continue
		}
		data = append(data, '}')
		mp.buf = data
		mp.finish(ev, data, c, b, r, emit)
	}
	return nil
}

// finish checks an event's size and schema and emits it, or its dead letter.
// data is copied.
func (mp *Mapper) finish(ev Event, data []byte, c *capture.Change, b *binding, r *eventRule, emit func(Event)) {
	if len(data) > mp.maxEvent {
		emit(mp.oversized(ev, len(data), c, b, r))
		return
	}
	if mp.opts.Validate {
		if err := mp.m.schemas.validate(ev.Type, ev.Version, data); err != nil {
			if c != nil {
				emit(mp.deadLetter(c, b, r.name, positionOrdinal(ev.Position), err.Error(), nil))
			} else {
				emit(mp.eventDeadLetter(ev, data, r, err.Error()))
			}
			return
		}
	}
	ev.Data = bytes.Clone(data)
	emit(ev)
}

// prepare fills the activation for c.
func (mp *Mapper) prepare(c *capture.Change, b *binding) {
	a := &mp.act
	a.c = c
	a.self = changeRef{a}
	a.op = types.String(c.Op.String())
	a.table = types.String(b.t.label)
	rowVals := c.New
	if c.Op == capture.OpDelete {
		rowVals = c.Old
	}
	a.row.reset(b, rowVals, mp.m.loc)
	a.old.reset(b, c.Old, mp.m.loc)
	a.hasOld = c.Old != nil
	if !mp.txKey.set || mp.txKey.lsn != c.FinalLSN || mp.txKey.xid != c.XID || mp.txKey.time != c.CommitTime.UnixNano() {
		mp.txKey.set, mp.txKey.lsn, mp.txKey.xid, mp.txKey.time = true, c.FinalLSN, c.XID, c.CommitTime.UnixNano()
		a.tx = types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{
			"xid":         int64(c.XID),
			"lsn":         c.FinalLSN.String(),
			"commit_time": c.CommitTime,
		})
	}
	if mp.act.source == "" {
		mp.act.source = types.String(mp.source)
	}
}

// aggregateID evaluates the table's aggregate id for the current change.
func (mp *Mapper) aggregateID(t *tableInfo) (string, error) {
	v, _, err := t.aggID.prg.Eval(&mp.act)
	if err != nil {
		return "", fmt.Errorf("aggregate id: %w", err)
	}
	switch x := v.(type) {
	case types.String:
		if x == "" {
			return "", errors.New("aggregate id is empty")
		}
		return string(x), nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case types.Null:
		return "", errors.New("aggregate id is null")
	}
	return "", fmt.Errorf("aggregate id must be a string or an int, not %s", v.Type().TypeName())
}

func evalBool(p *program, a *activation) (bool, error) {
	if p.opsOnly && a.c != nil {
		return p.ops&(1<<a.c.Op) != 0, nil
	}
	v, _, err := p.prg.Eval(a)
	if err != nil {
		return false, explain(err, p, a.row.b, a.row.vals)
	}
	bv, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("want a bool, got %s", v.Type().TypeName())
	}
	return bool(bv), nil
}

// explain adds to an evaluation error the columns of the expression that are
// NULL or missing, the usual cause of "no such overload" and "no such key".
func explain(err error, p *program, b *binding, vals []capture.Value) error {
	var notes []string
	for _, r := range p.refs {
		if r.old || r.probe || slices.Contains(notes, r.name) {
			continue
		}
		v, ok := b.lookup(vals, r.name)
		switch {
		case !ok || v.Kind == capture.KindAbsent:
			notes = append(notes, "row."+r.name+" is not in this change")
		case v.Kind == capture.KindNull:
			notes = append(notes, "row."+r.name+" is null")
		}
	}
	if len(notes) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(notes, ", "))
}

// appendFields appends the data object of fields for the current change,
// without its closing brace: fields whose columns are unchanged TOAST values
// are left out and listed under "unchanged".
func (mp *Mapper) appendFields(buf []byte, fields []*field, b *binding) ([]byte, error) {
	a := &mp.act
	buf = append(buf, '{')
	mp.unchanged = mp.unchanged[:0]
	n := 0
	for _, f := range fields {
		if mp.usesUnchanged(f.prg, b) {
			mp.unchanged = append(mp.unchanged, f.name)
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
		buf = jsonx.AppendString(buf, f.name)
		buf = append(buf, ':')
		var err error
		if f.prg.column != "" {
			v, ok, derr := a.row.column(f.prg.column)
			switch {
			case !ok || v.Kind == capture.KindAbsent:
				return buf, fmt.Errorf("field %s: column %q has no value in this change", f.name, f.prg.column)
			case derr != nil:
				err = derr
			default:
				buf, err = appendValueJSON(buf, v, f.asString)
			}
		} else {
			var v ref.Val
			v, _, err = f.prg.prg.Eval(a)
			if err != nil {
				err = explain(err, f.prg, b, a.row.vals)
			} else {
				buf, err = appendCELJSON(buf, v, f.asString, mp.m.loc)
			}
		}
		if err != nil {
			return buf, fmt.Errorf("field %s: %w", f.name, err)
		}
	}
	if len(mp.unchanged) > 0 {
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `"unchanged":[`...)
		for i, u := range mp.unchanged {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = jsonx.AppendString(buf, u)
		}
		buf = append(buf, ']')
	}
	return buf, nil
}

// usesUnchanged says whether p reads a column of the row that is an unchanged
// TOAST value in the current change.
func (mp *Mapper) usesUnchanged(p *program, b *binding) bool {
	if mp.act.c.Op != capture.OpUpdate {
		return false
	}
	for _, r := range p.refs {
		if r.old || r.probe {
			continue
		}
		if v, ok := b.lookup(mp.act.row.vals, r.name); ok && v.Kind == capture.KindUnchangedTOAST {
			return true
		}
	}
	return false
}

// absorb offers a change to the gathering events of its transaction. It
// reports whether one took it.
func (mp *Mapper) absorb(c *capture.Change, b *binding, emit func(Event)) bool {
	if len(mp.pending) == 0 {
		return false
	}
	for _, g := range b.t.gathers {
		if g.when != nil {
			ok, err := evalBool(g.when, &mp.act)
			if err != nil || !ok {
				continue // not for this gather; the table's own rules decide
			}
		}
		kv, _, err := g.key.prg.Eval(&mp.act)
		if err != nil {
			continue
		}
		var key string
		switch x := kv.(type) {
		case types.String:
			key = string(x)
		case types.Int:
			key = strconv.FormatInt(int64(x), 10)
		default:
			continue
		}
		p := mp.byAgg[aggKey{g.owner.aggType, key}]
		if p == nil || p.rule != g.parent {
			continue
		}
		gi := slices.Index(p.rule.gathers, g)
		item, err := mp.appendFields(mp.buf[:0], g.fields, b)
		mp.buf = item
		if err != nil {
			emit(mp.deadLetter(c, b, g.rule, 0, err.Error(), nil))
			return true
		}
		item = append(item, '}')
		mp.buf = item
		held := cap(p.items[gi])
		if len(p.items[gi]) > 0 {
			p.items[gi] = append(p.items[gi], ',')
		}
		p.items[gi] = append(p.items[gi], item...)
		// What the items hold, their spare capacity included.
		grown := cap(p.items[gi]) - held
		p.size += grown
		mp.pendingBytes += grown
		// The event now stands at its last row; its id follows from that
		// position once it leaves (emitPending).
		p.ev.Position = MakePosition(c.FinalLSN, c.Index, 0)
		if mp.pendingBytes > mp.m.maxGatherBytes {
			mp.flushAll(emit)
		}
		return true
	}
	return false
}

// flushAgg emits the gathering event of an aggregate, if any, so that a later
// event of the same aggregate follows it.
func (mp *Mapper) flushAgg(key aggKey, emit func(Event)) {
	p := mp.byAgg[key]
	if p == nil {
		return
	}
	delete(mp.byAgg, key)
	i := slices.Index(mp.pending, p)
	mp.pending = slices.Delete(mp.pending, i, i+1)
	mp.pendingBytes -= p.size
	mp.emitPending(p, emit)
}

// flushAll emits every gathering event in position order.
func (mp *Mapper) flushAll(emit func(Event)) {
	slices.SortStableFunc(mp.pending, func(a, b *pendingEvent) int { return cmp.Compare(a.ev.Position, b.ev.Position) })
	for _, p := range mp.pending {
		delete(mp.byAgg, aggKey{p.ev.AggregateType, p.ev.AggregateID})
		mp.emitPending(p, emit)
	}
	mp.pending = mp.pending[:0]
	mp.pendingBytes = 0
}

func (mp *Mapper) emitPending(p *pendingEvent, emit func(Event)) {
	p.ev.ID = EventID(mp.source, p.ev.Position)
	data := append(mp.buf[:0], p.head...)
	for i, g := range p.rule.gathers {
		if len(data) > 1 {
			data = append(data, ',')
		}
		data = jsonx.AppendString(data, g.field)
		data = append(data, ':', '[')
		data = append(data, p.items[i]...)
		data = append(data, ']')
	}
	data = append(data, '}')
	mp.buf = data
	mp.finish(p.ev, data, nil, nil, p.rule, emit)
}

// truncate turns a TRUNCATE into a control event for each affected aggregate type.
func (mp *Mapper) truncate(c *capture.Change, emit func(Event)) {
	rels := c.Truncated
	if len(rels) == 0 && c.Relation != nil {
		rels = []*capture.Relation{c.Relation}
	}
	aggs := mp.m.aggregateTypesOf(rels)
	if len(aggs) == 0 {
		return
	}
	mp.flushAll(emit)
	for i, agg := range aggs {
		pos := MakePosition(c.FinalLSN, c.Index, uint16(i))
		data := append([]byte(`{"tables":`), appendTableList(nil, rels)...)
		data = append(data, `,"cascade":`...)
		data = strconv.AppendBool(data, c.Cascade)
		data = append(data, `,"restart_identity":`...)
		data = strconv.AppendBool(data, c.RestartIdentity)
		data = append(data, '}')
		emit(Event{
			ID:            EventID(mp.source, pos),
			Source:        mp.source,
			Type:          controlType(ControlTruncate),
			Version:       1,
			AggregateType: agg,
			Position:      pos,
			LSN:           c.FinalLSN,
			XID:           c.XID,
			Time:          c.CommitTime,
			Data:          data,
			Control:       ControlTruncate,
		})
	}
}

// bind returns the binding of a relation, checking the table's rules against it
// the first time the relation is seen. It returns nil for tables the mapping
// does not read.
func (mp *Mapper) bind(rel *capture.Relation) (*binding, error) {
	if b, ok := mp.local[rel]; ok {
		return b, nil
	}
	bs := mp.bs
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b, err := mp.bindShared(rel)
	if err != nil {
		return nil, err
	}
	if len(mp.local) >= len(bs.bindings) {
		clear(mp.local) // drop the shapes the shared state has dropped
	}
	mp.local[rel] = b
	return b, nil
}

// bindShared is bind on the shared state; the caller holds mp.bs.mu.
func (mp *Mapper) bindShared(rel *capture.Relation) (*binding, error) {
	bs := mp.bs
	if b, ok := bs.bindings[rel]; ok {
		return b, nil
	}
	name := RelationName(rel)
	if prev := bs.current[name]; prev != nil && prev != rel {
		// The table changed shape or the session restarted. A clone may
		// still map changes of prev handed on before this one, so prev's
		// binding is dropped only after many later ones.
		bs.retired = append(bs.retired, prev)
		if len(bs.retired) > maxRetired {
			for _, r := range bs.retired[:maxRetired/2] {
				delete(bs.bindings, r)
			}
			bs.retired = slices.Delete(bs.retired, 0, maxRetired/2)
		}
	}
	bs.current[name] = rel
	t := mp.m.tables[name]
	if t == nil {
		bs.bindings[rel] = nil
		return nil, nil
	}
	b := newBinding(rel, t)
	known := bs.known[name]
	if known == nil {
		known = mp.m.loadTypes[name]
	}
	// A dropped or retyped column outranks a lost old row: it breaks every
	// change of the table, not only its updates and deletes.
	var first *problem
	for _, pr := range t.check(rel, known) {
		if pr.rule != "" && (first == nil || first.noOld && !pr.noOld) {
			first = &pr
		}
	}
	if first != nil {
		err := &RuleBrokenError{Table: name.String(), Rule: first.rule, Column: first.column, Reason: first.reason,
			OldRowMissing: first.noOld, Identity: first.identity}
		if !mp.opts.DeadLetterBrokenRules {
			return nil, err
		}
		b.broken = err
	}
	types := make(map[string]string, len(rel.Columns))
	for _, col := range rel.Columns {
		types[col.Name] = col.TypeName
	}
	bs.known[name] = types
	bs.bindings[rel] = b
	return b, nil
}

// keyText returns the row's replica-identity key values as canonical text (their
// event JSON), for snapshot event ids.
func (mp *Mapper) keyText(c *capture.Change, b *binding) []string {
	var out []string
	for i, col := range b.rel.Columns {
		if !col.Key || i >= len(c.New) {
			continue
		}
		v, err := c.New[i].Decoded()
		var j []byte
		if err == nil {
			j, err = appendValueJSON(nil, v, false)
		}
		if err != nil {
			j = []byte(fmt.Sprint(c.New[i].Data))
		}
		out = append(out, string(j))
	}
	return out
}

// positionOrdinal returns the event ordinal of a Position.
func positionOrdinal(p Position) uint16 {
	s := string(p)
	if len(s) < 4 {
		return 0
	}
	v, _ := strconv.ParseUint(s[len(s)-4:], 16, 16)
	return uint16(v)
}

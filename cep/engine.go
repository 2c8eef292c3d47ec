package cep

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/jsonx"
	"github.com/cdcflow/cdcflow/pipeline"
)

// PartitionID names one input partition.
type PartitionID struct {
	Topic     string
	Partition int32
}

// String returns "topic/partition".
func (p PartitionID) String() string { return p.Topic + "/" + strconv.Itoa(int(p.Partition)) }

// Input is one record of an input partition, decoded (pipeline.DecodeRecord):
// a domain event, or a control record (a progress record moves time
// forward; other control records and dead letters only move the position).
type Input struct {
	Partition PartitionID
	Offset    int64 // the record's Kafka offset, reported back by Offsets
	Event     pipeline.Event
}

// Config configures an Engine. Source and Partitions are required.
type Config struct {
	// Source is the CloudEvents source of the derived events and an input
	// of their ids, e.g. "cdcflow://cep/shop". It must not change between
	// runs, or replays would give other ids.
	Source string
	// Partitions are every input partition. The watermark waits for all
	// of them: a partition that has delivered nothing (not even a progress
	// record) holds every deadline.
	Partitions []PartitionID
	// MaxOpenPerKey bounds the open matches one key of one rule keeps
	// (absence starts, sequence partial matches); past it the oldest is
	// dropped and counted in RuleStats.Dropped. 0 means 64.
	MaxOpenPerKey int
	// Hooks receives timings and evaluation errors; nil means none.
	Hooks *Hooks
}

// DefaultMaxOpenPerKey is Config.MaxOpenPerKey's default.
const DefaultMaxOpenPerKey = 64

// Hooks are the engine's callbacks for metrics. Each field may be nil.
// They are called synchronously from Feed and must not call the Engine.
type Hooks struct {
	// Now reads the clock for EvalTime; nil means evaluation time is not
	// measured (the engine itself never reads a clock).
	Now func() time.Time
	// EvalTime receives the time one input spent in a rule's matching.
	EvalTime func(rule string, d time.Duration)
	// TimerFired receives how far the watermark had passed a deadline
	// when it fired (event time, not wall time).
	TimerFired func(rule string, lag time.Duration)
	// EvalError receives a CEL evaluation error of a rule on an input;
	// that input is skipped for that rule and counted in RuleStats.Errors.
	EvalError func(rule string, pos pipeline.Position, err error)
}

// RuleStats are one rule's gauges and counters.
type RuleStats struct {
	Rule        string
	Version     int
	OpenMatches int    // open matches: absence starts (and fired timeouts awaiting resolution), sequence partial matches, window keys
	Timers      int    // pending deadlines of those matches
	Matches     uint64 // completed matches (a timeout, a sequence, a threshold reached, a resolution)
	Derived     uint64 // derived events emitted
	Dropped     uint64 // open matches dropped by MaxOpenPerKey
	Late        uint64 // events whose time falls before their key's window (not counted in it)
	Errors      uint64 // evaluation errors (the input skipped for the rule)
}

// Engine runs compiled rules over the merged input partitions. It is not
// safe for concurrent use; it starts no goroutine and reads no clock.
type Engine struct {
	rs       *Rules
	cfg      Config
	byType   map[string][]int // event type -> rule ordinals listening to it
	parts    []*partState
	partIx   map[PartitionID]int
	lastPart int // the index of the partition of the last Feed

	wm     time.Time   // the event-time watermark
	timers []timerHeap // per rule ordinal: its keys' deadlines
	state  []*ruleState

	// cause is the position of the input being released: derived events
	// take it; seq numbers them per derived aggregate at one (LSN, index).
	cause pipeline.Position
	seq   seqState

	// Late and duplicate inputs (position not above the partition's last).
	duplicates uint64
	// names interns event and aggregate type names; heads holds what the
	// matches of one event type share (state.go).
	names    map[string]string
	heads    map[headKey]*matchHead
	lastHead *matchHead // the head head returned last
	// inputs are the events being matched, reused: the input, and the
	// events derived while it is matched (depth of them in use).
	inputs []*inputEvent
	depth  int
	// idPrefix is, per emit, the start of its events' id input: "cep",
	// the rule's name and version, the type (idInput).
	idPrefix map[*emitSpec]string
	// members are, per emit, the top-level data members its fields read
	// of each match (matched.NAME.data.MEMBER), read in one pass.
	members map[*emitSpec]map[string][]string
}

// maxKeptBuffer is the largest merge buffer a partition keeps once it is
// empty; a larger one (after a burst) is let go.
const maxKeptBuffer = 256

// maxInterned bounds names: type names are few, but nothing should grow
// without bound on odd input.
const maxInterned = 4096

func (e *Engine) intern(s string) string {
	if x, ok := e.names[s]; ok {
		return x
	}
	if len(e.names) < maxInterned {
		e.names[s] = s
	}
	return s
}

type partState struct {
	id     PartitionID
	buf    []Input // buf[head:] wait for the other partitions
	head   int
	offset int64             // last released offset, -1 before any
	pos    pipeline.Position // last accepted position (released or buffered)
	rel    pipeline.Position // last released position
}

type seqState struct {
	LSN    capture.LSN       `json:"lsn"`
	Index  uint32            `json:"index"`
	Counts map[string]uint16 `json:"counts,omitempty"`
}

type ruleState struct {
	r     *rule
	names []string // the names of its steps (stepNames)
	keys  map[string]*keyState
	stats RuleStats
}

// New returns an Engine for the rules rs, with empty state.
func New(rs *Rules, cfg Config) (*Engine, error) {
	switch {
	case rs == nil:
		return nil, errors.New("cep: no rules")
	case cfg.Source == "":
		return nil, errors.New("cep: Config.Source is empty")
	case len(cfg.Partitions) == 0:
		return nil, errors.New("cep: Config.Partitions is empty")
	case cfg.MaxOpenPerKey < 0:
		return nil, fmt.Errorf("cep: Config.MaxOpenPerKey %d: want 0 (default) or more", cfg.MaxOpenPerKey)
	}
	if cfg.MaxOpenPerKey == 0 {
		cfg.MaxOpenPerKey = DefaultMaxOpenPerKey
	}
	if cfg.Hooks == nil {
		cfg.Hooks = &Hooks{}
	}
	e := &Engine{rs: rs, cfg: cfg, byType: map[string][]int{}, partIx: map[PartitionID]int{}, names: map[string]string{},
		heads: map[headKey]*matchHead{}, idPrefix: map[*emitSpec]string{}, members: map[*emitSpec]map[string][]string{}, timers: make([]timerHeap, len(rs.rules))}
	for _, p := range cfg.Partitions {
		if _, dup := e.partIx[p]; dup {
			return nil, fmt.Errorf("cep: partition %s listed twice", p)
		}
		e.partIx[p] = len(e.parts)
		e.parts = append(e.parts, &partState{id: p, offset: -1})
	}
	for _, r := range rs.rules {
		e.state = append(e.state, &ruleState{r: r, names: stepNames(r), keys: map[string]*keyState{}, stats: RuleStats{Rule: r.name, Version: r.version}})
		for _, spec := range []*emitSpec{r.emit, r.resolve} {
			if spec != nil {
				e.idPrefix[spec] = idInput([]string{"cep", r.name, strconv.Itoa(r.version), spec.typ})
				e.members[spec] = dataMembers(spec)
			}
		}
		seen := map[string]bool{}
		for _, s := range r.steps {
			for t := range s.types {
				if !seen[t] {
					seen[t] = true
					e.byType[t] = append(e.byType[t], r.ordinal)
				}
			}
		}
	}
	return e, nil
}

// Feed hands the engine one input record. Records of one partition must
// come in offset order. The engine buffers it until every partition has
// something buffered, then releases records in position order (the k-way
// merge of the partitions, which does not depend on how their records
// interleave on arrival), advancing the watermark and calling emit for each
// derived event, in order. A record whose position is not above the last
// one accepted from its partition (a redelivery) is dropped.
//
// It returns an error only for an unknown partition or a derived event
// that cannot be built; the engine's state is then unspecified (restore
// the last snapshot).
func (e *Engine) Feed(in Input, emit func(pipeline.Event)) error {
	ix := e.lastPart
	if e.parts[ix].id != in.Partition {
		var ok bool
		if ix, ok = e.partIx[in.Partition]; !ok {
			return fmt.Errorf("cep: input from partition %s, which is not in Config.Partitions", in.Partition)
		}
		e.lastPart = ix
	}
	p := e.parts[ix]
	if in.Event.Position <= p.pos {
		e.duplicates++
		return nil
	}
	p.pos = in.Event.Position
	p.buf = append(p.buf, in)
	for {
		next := -1
		for i, q := range e.parts {
			if len(q.buf) == q.head {
				return nil
			}
			if next < 0 || q.buf[q.head].Event.Position < e.parts[next].buf[e.parts[next].head].Event.Position {
				next = i
			}
		}
		q := e.parts[next]
		item := q.buf[q.head]
		q.buf[q.head] = Input{}
		q.head++
		if q.head == len(q.buf) {
			// Empty: reuse the backing array, unless a burst grew it.
			q.buf, q.head = q.buf[:0], 0
			if cap(q.buf) > maxKeptBuffer {
				q.buf = nil
			}
		}
		if err := e.release(&item, emit); err != nil {
			return err
		}
		q.offset, q.rel = item.Offset, item.Event.Position
	}
}

// Offsets returns, per partition, the offset of the last record released
// (-1 before any): with Snapshot taken at the same moment, a restart seeks
// each partition to its offset + 1. Buffered records are not in it.
func (e *Engine) Offsets() map[PartitionID]int64 {
	out := make(map[PartitionID]int64, len(e.parts))
	for _, p := range e.parts {
		out[p.id] = p.offset
	}
	return out
}

// Watermark returns the event-time watermark: the newest commit time of
// the records released, which every partition has reached (zero before
// the first release).
func (e *Engine) Watermark() time.Time { return e.wm }

// Buffered returns how many records wait for the other partitions: a
// caller pauses a partition that runs too far ahead.
func (e *Engine) Buffered() int {
	n := 0
	for _, p := range e.parts {
		n += len(p.buf) - p.head
	}
	return n
}

// Duplicates returns how many inputs were dropped because their position
// was not above their partition's last.
func (e *Engine) Duplicates() uint64 { return e.duplicates }

// Stats returns every rule's gauges and counters, in file order.
func (e *Engine) Stats() []RuleStats {
	out := make([]RuleStats, len(e.state))
	for i, s := range e.state {
		out[i] = s.stats
	}
	return out
}

// release processes one record in merge order: the watermark first, with
// the deadlines it passes, then the event itself.
func (e *Engine) release(in *Input, emit func(pipeline.Event)) error {
	ev := &in.Event
	lsn, index, ord, err := pipeline.ParsePosition(string(ev.Position))
	if err != nil {
		return fmt.Errorf("cep: input at %s offset %d: %w", in.Partition, in.Offset, err)
	}
	if lsn != e.seq.LSN || index != e.seq.Index {
		e.seq = seqState{LSN: lsn, Index: index}
	}
	e.cause = ev.Position
	if ev.Time.After(e.wm) {
		e.wm = ev.Time.UTC()
	}
	if err := e.fireTimers(emit); err != nil {
		return err
	}
	if ev.Control != pipeline.NotControl || ev.DeadLetter {
		return nil
	}
	if _, ok := e.byType[ev.Type]; !ok {
		return nil
	}
	ev.Type, ev.AggregateType = e.intern(ev.Type), e.intern(ev.AggregateType)
	x := e.pushInput(*ev)
	x.pos = posParts{lsn: uint64(lsn), index: index, ord: ord, ok: true}
	err = e.match(x, -1, emit)
	e.popInput()
	return err
}

// match offers ev to every rule listening to its type after rule ordinal
// after (-1: all), in file order.
func (e *Engine) match(ev *inputEvent, after int, emit func(pipeline.Event)) error {
	for _, o := range e.byType[ev.ev.Type] {
		if o <= after {
			continue
		}
		s := e.state[o]
		var t0 time.Time
		if e.cfg.Hooks.Now != nil {
			t0 = e.cfg.Hooks.Now()
		}
		if err := e.onEvent(s, ev, emit); err != nil {
			var ee *evalError
			if !errors.As(err, &ee) {
				return err
			}
			s.stats.Errors++
			if e.cfg.Hooks.EvalError != nil {
				e.cfg.Hooks.EvalError(s.r.name, ev.ev.Position, ee.err)
			}
		}
		if e.cfg.Hooks.Now != nil && e.cfg.Hooks.EvalTime != nil {
			e.cfg.Hooks.EvalTime(s.r.name, e.cfg.Hooks.Now().Sub(t0))
		}
	}
	return nil
}

// evalError marks an error of a rule's CEL evaluation, which skips the
// input for that rule instead of stopping the engine.
type evalError struct{ err error }

func (e *evalError) Error() string { return e.err.Error() }

// inputEvent is an event being matched: its data is decoded at most once,
// and its CEL map (event) only when CEL asks for it.
type inputEvent struct {
	ev     pipeline.Event
	pos    posParts // ev.Position, parsed
	vs     vars
	parsed bool // dataV, dataErr are set
	dataV  any
	err    error
	event  map[string]any
}

// reset makes in the event ev, keeping its buffers.
func (in *inputEvent) reset(ev pipeline.Event) {
	in.ev, in.pos, in.parsed, in.dataV, in.err, in.event = ev, posParts{}, false, nil, nil, nil
	clear(in.vs.ms)
	in.vs = vars{ms: in.vs.ms[:0], mdata: in.vs.mdata[:0]}
}

// data returns the event's data as CEL reads it, decoded on first use.
func (in *inputEvent) data() (any, error) {
	if !in.parsed {
		in.parsed = true
		in.dataV, in.err = dataValue(in.ev.Data)
	}
	return in.dataV, in.err
}

// check returns the error decoding the event's data gives, decoding it
// only when jsonx.Valid does not take it.
func (in *inputEvent) check() error {
	if in.parsed || !jsonx.Valid(in.ev.Data) {
		_, err := in.data()
		return err
	}
	return nil
}

// field returns data.path when it is a scalar (walkData), decoding only the
// member path[0] unless the whole data is decoded already.
func (in *inputEvent) field(path []string) (ref.Val, bool) {
	if !in.parsed {
		v, found, ok := jsonx.Field(in.ev.Data, path[0])
		if ok {
			if !found {
				return nil, false
			}
			return walkData(v, path[1:])
		}
	}
	d, err := in.data()
	if err != nil {
		return nil, false
	}
	return walkData(d, path)
}

// activation returns the event's variables (event, data): an error when
// its data cannot be decoded.
func (in *inputEvent) activation() (*vars, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	in.vs.in = in
	return &in.vs, nil
}

// eventMap returns the event as CEL reads it (event), built on first use;
// its data must have been checked (activation).
func (in *inputEvent) eventMap() map[string]any {
	if in.event == nil {
		ev := in.ev
		data, _ := in.data() // checked by activation: no error
		in.event = map[string]any{
			"type": ev.Type, "version": int64(ev.Version), "aggregate_type": ev.AggregateType, "aggregate_id": ev.AggregateID,
			"id": ev.ID, "position": string(ev.Position), "time": ev.Time.UTC(), "data": data,
		}
	}
	return in.event
}

// attr returns event.path when it is a scalar (fastPath).
func (in *inputEvent) attr(path []string) (ref.Val, bool) {
	ev := &in.ev
	if path[0] == "data" {
		if len(path) == 1 {
			return nil, false
		}
		return in.field(path[1:])
	}
	if len(path) != 1 {
		return nil, false
	}
	switch path[0] {
	case "type":
		return types.String(ev.Type), true
	case "version":
		return types.Int(ev.Version), true
	case "aggregate_type":
		return types.String(ev.AggregateType), true
	case "aggregate_id":
		return types.String(ev.AggregateID), true
	case "id":
		return types.String(ev.ID), true
	case "position":
		return types.String(string(ev.Position)), true
	case "time":
		return types.Timestamp{Time: ev.Time.UTC()}, true
	}
	return nil, false
}

// fireTimers fires every timer the watermark has passed, earliest first
// (ties by rule, then key).
func (e *Engine) fireTimers(emit func(pipeline.Event)) error {
	wm := e.wm.UnixNano()
	for {
		o := -1
		for i, h := range e.timers {
			if len(h) > 0 && wm > h[0].at && (o < 0 || h[0].at < e.timers[o][0].at) {
				o = i
			}
		}
		if o < 0 {
			return nil
		}
		t := e.timers[o].pop()
		s := e.state[o]
		ks := s.keys[t.key]
		if ks == nil || ks.timerAt != t.at {
			continue // stale: the key's deadline moved or it expired
		}
		ks.timerAt = 0
		if err := e.expire(s, t.key, ks, emit); err != nil {
			return err
		}
	}
}

// touch re-weighs the key's contribution to the rule's gauges and
// reschedules its timer; it deletes a key with nothing left.
func (e *Engine) touch(s *ruleState, key string, ks *keyState, before weight) {
	after := ks.weigh(s.r)
	s.stats.OpenMatches += after.open - before.open
	s.stats.Timers += after.timers - before.timers
	if after.open == 0 && after.timers == 0 {
		delete(s.keys, key)
		return
	}
	next := ks.nextDue(s.r)
	if !next.IsZero() && next.UnixNano() != ks.timerAt {
		ks.timerAt = next.UnixNano()
		e.timers[s.r.ordinal].push(timer{at: ks.timerAt, key: key})
	}
}

// derive builds and emits one derived event completed at the current
// input; then the rules after r see it too.
func (e *Engine) derive(s *ruleState, spec *emitSpec, key string, vs *vars, at time.Time, idParts []string, emit func(pipeline.Event)) error {
	r := s.r
	vs.want = e.members[spec]
	b, err := spec.data(vs, r.name)
	if cerr := vs.check(); cerr != nil {
		// Before anything is evaluated, as building matched did.
		if vs.rawCheck {
			return cerr
		}
		return &evalError{cerr}
	}
	if err != nil {
		return &evalError{err}
	}
	agg := r.aggregate + "\x00" + key
	if e.seq.Counts == nil {
		e.seq.Counts = map[string]uint16{}
	}
	n := e.seq.Counts[agg]
	if n == derivedOrdinals {
		return fmt.Errorf("cep: rule %q: more than %d derived events of %s %q at position %s", r.name, n, r.aggregate, key, e.cause)
	}
	e.seq.Counts[agg] = n + 1
	pos := pipeline.MakePosition(e.seq.LSN, e.seq.Index, derivedOrdinal+n)
	prefix := e.idPrefix[spec]
	idIn := append(make([]byte, 0, len(prefix)+160), prefix...)
	idIn = appendIDPart(idIn, key)
	for _, p := range idParts {
		idIn = appendIDPart(idIn, p)
	}
	d := pipeline.Event{
		ID:            pipeline.EventID(e.cfg.Source, pipeline.Position(idIn)),
		Source:        e.cfg.Source,
		Type:          spec.typ,
		Version:       spec.version,
		AggregateType: r.aggregate,
		AggregateID:   key,
		Position:      pos,
		LSN:           e.seq.LSN,
		Time:          at.UTC(),
		Data:          b,
	}
	s.stats.Derived++
	emit(d)
	in := e.pushInput(d)
	in.pos = posParts{lsn: uint64(e.seq.LSN), index: e.seq.Index, ord: derivedOrdinal + n, ok: true}
	err = e.match(in, r.ordinal, emit)
	e.popInput()
	return err
}

// data evaluates the emit's fields over vs and returns them as a JSON
// object, the bytes json.Marshal writes for the map of them (sorted keys).
func (spec *emitSpec) data(vs *vars, rule string) ([]byte, error) {
	b := make([]byte, 0, 64*len(spec.fields)+2)
	b = append(b, '{')
	for i, f := range spec.fields {
		v, err := f.expr.eval(vs)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendJSON(b, f.name); err != nil {
			return nil, fmt.Errorf("rule %q: encode %s data: %w", rule, spec.typ, err)
		}
		b = append(b, ':')
		if ts, ok := v.(types.Timestamp); ok {
			// toJSON's RFC 3339 text, which json.Marshal writes as it is.
			b = append(ts.Time.UTC().AppendFormat(append(b, '"'), time.RFC3339Nano), '"')
			continue
		}
		j, err := toJSON(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.expr.where, err)
		}
		if b, err = appendJSON(b, j); err != nil {
			return nil, fmt.Errorf("rule %q: encode %s data: %w", rule, spec.typ, err)
		}
	}
	return append(b, '}'), nil
}

// dataMembers returns, per match name, the top-level members of its data
// that spec's fields read (matched.NAME.data.MEMBER…).
func dataMembers(spec *emitSpec) map[string][]string {
	out := map[string][]string{}
	for _, f := range spec.fields {
		for _, path := range f.expr.matchedPaths {
			if len(path) >= 3 && path[1] == "data" && !slices.Contains(out[path[0]], path[2]) {
				out[path[0]] = append(out[path[0]], path[2])
			}
		}
	}
	return out
}

// pushInput returns the engine's inputEvent for ev at the current depth of
// derived events (a derived event is matched while the input that derived
// it still is); popInput gives it back.
func (e *Engine) pushInput(ev pipeline.Event) *inputEvent {
	if e.depth == len(e.inputs) {
		e.inputs = append(e.inputs, &inputEvent{})
	}
	in := e.inputs[e.depth]
	e.depth++
	in.reset(ev)
	return in
}

func (e *Engine) popInput() {
	e.depth--
	e.inputs[e.depth].reset(pipeline.Event{})
}

// derivedOrdinal is the ordinal of the first event derived at an input
// position: a derived event sorts after every event of the change that
// completed it (whose ordinals are small) and before the next change. The
// views' stale-event guard is kept per aggregate type and id, whatever the
// topic, so a derived event of an aggregate (OrderOverdueResolved of order
// 7) must sort after the mapped event it was derived from (OrderDeclared of
// order 7, at the same LSN and index), which the views may have applied
// first from its own topic: with the input's own ordinal it would be equal,
// hence stale, and never applied.
const derivedOrdinal = 0x8000

// derivedOrdinals is how many events one aggregate may derive at one input
// position.
const derivedOrdinals = 0x7FFF

// idInput joins parts unambiguously (each length-prefixed).
func idInput(parts []string) string {
	var b []byte
	for _, p := range parts {
		b = appendIDPart(b, p)
	}
	return string(b)
}

// appendIDPart appends one part of idInput.
func appendIDPart(b []byte, p string) []byte {
	b = strconv.AppendInt(b, int64(len(p)), 10)
	b = append(b, ':')
	return append(b, p...)
}

// timer is one entry of a rule's heap: the key has a deadline at at.
type timer struct {
	at  int64 // Unix ns: commit times lie between 1678 and 2262
	key string
}

// timerHeap holds one rule's timers, earliest first (ties by key): a
// binary heap, typed so that pushing and popping box nothing.
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.key < b.key
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	h.up(len(*h) - 1)
}

func (h *timerHeap) pop() timer {
	old := *h
	n := len(old) - 1
	old[0], old[n] = old[n], old[0]
	old.down(0, n)
	t := old[n]
	old[n] = timer{}
	*h = old[:n]
	return t
}

func (h timerHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i, len(h))
	}
}

func (h timerHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (h timerHeap) down(i, n int) {
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if r := j + 1; r < n && h.less(r, j) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// sortedKeys returns m's keys in order, for deterministic iteration.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

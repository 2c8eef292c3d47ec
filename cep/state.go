package cep

import (
	"encoding/json"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/pipeline"
)

// The state is what a million open timers are made of, so its structs are
// compact. A match is 64 bytes: what the matches of one event type share
// (type, aggregate type, version) is one head interned per engine; an id in
// cdcflow's UUID form and a position are kept as their 16 and 14 bytes
// rather than as text, a time as Unix nanoseconds, the aggregate id not at
// all when it is the rule's key (the default key); and what is rare (a
// sum's value, an id, position or time of another form, an aggregate id
// other than the key, a sequence's later steps) sits in a private head of
// its own. An open match is just its first match. Snapshot writes the same
// JSON as ever (matchJSON, openJSON, keyJSON, windowJSON): only the memory
// layout is compact.

// matchHead is what the matches of one event type share, interned per
// engine; a match with rare parts has a private copy with x set.
type matchHead struct {
	typ, aggType string
	version      int
	x            *matchExtra // nil in the engine's shared heads
}

// headKey identifies a shared head.
type headKey struct {
	typ, aggType string
	version      int
}

// match flags.
const (
	matchUUID  uint8 = 1 << iota // id holds the id; otherwise x.id does
	matchTime                    // x.time holds the time (outside Unix nanoseconds)
	matchPos                     // x.pos holds the position (not the fixed-width form)
	matchAggID                   // x.aggID holds the aggregate id; otherwise it is the key
)

// match is one matched event as the state keeps it, for one key of a rule.
type match struct {
	h     *matchHead
	data  string // the event's data, JSON
	id    [16]byte
	at    int64 // the source commit time, Unix ns (unless matchTime)
	lsn   uint64
	index uint32
	ord   uint16
	flags uint8
}

// matchExtra holds the rare parts of a match.
type matchExtra struct {
	aggID string
	id    string
	pos   pipeline.Position
	time  time.Time
	value string  // sum: the event's value
	later []match // an open sequence match: the steps matched after this one
}

// head returns the engine's shared head of the kind.
func (e *Engine) head(typ, aggType string, version int) *matchHead {
	if h := e.lastHead; h != nil && h.typ == typ && h.aggType == aggType && h.version == version {
		return h
	}
	k := headKey{typ, aggType, version}
	if h, ok := e.heads[k]; ok {
		e.lastHead = h
		return h
	}
	h := &matchHead{typ: typ, aggType: aggType, version: version}
	if len(e.heads) < maxInterned {
		e.heads[k] = h
	}
	return h
}

// matchOf returns ev as a match of the state of key.
func (e *Engine) matchOf(ev pipeline.Event, key string) match {
	m := match{h: e.head(ev.Type, ev.AggregateType, ev.Version), data: string(ev.Data)}
	m.build(ev.ID, ev.Position, posParts{}, ev.Time, ev.AggregateID, key, "")
	return m
}

// matchIn is matchOf of the input's event, whose position is parsed.
func (e *Engine) matchIn(in *inputEvent, key string) match {
	ev := &in.ev
	m := match{h: e.head(ev.Type, ev.AggregateType, ev.Version), data: string(ev.Data)}
	m.build(ev.ID, ev.Position, in.pos, ev.Time, ev.AggregateID, key, "")
	return m
}

// posParts is a position parsed (ok) or not yet.
type posParts struct {
	lsn   uint64
	index uint32
	ord   uint16
	ok    bool
}

// build sets the parts of a new match, the rare ones in a private head;
// pp is pos parsed, when it is.
func (m *match) build(id string, pos pipeline.Position, pp posParts, t time.Time, aggID, key, value string) {
	var x matchExtra
	rare := false
	if u, ok := parseUUID(id); ok {
		m.id, m.flags = u, m.flags|matchUUID
	} else {
		x.id, rare = id, true
	}
	t = t.UTC()
	if ns := t.UnixNano(); time.Unix(0, ns).UTC() == t {
		m.at = ns
	} else {
		m.flags |= matchTime
		x.time, rare = t, true
	}
	if pp.ok {
		m.lsn, m.index, m.ord = pp.lsn, pp.index, pp.ord
	} else if lsn, index, ord, err := pipeline.ParsePosition(string(pos)); err == nil {
		m.lsn, m.index, m.ord = uint64(lsn), index, ord
	} else {
		m.flags |= matchPos
		x.pos, rare = pos, true
	}
	if aggID != key {
		m.flags |= matchAggID
		x.aggID, rare = aggID, true
	}
	if value != "" {
		x.value, rare = value, true
	}
	if rare {
		m.setExtra(&x)
	}
}

// setExtra gives m a private head with x (copied on write: matches share
// heads when they are copied).
func (m *match) setExtra(x *matchExtra) {
	h := *m.h
	h.x = x
	m.h = &h
}

// extraCopy returns a copy of m's rare parts to modify.
func (m *match) extraCopy() *matchExtra {
	if m.h.x == nil {
		return &matchExtra{}
	}
	x := *m.h.x
	return &x
}

func (m *match) setValue(v string) {
	x := m.extraCopy()
	x.value = v
	m.setExtra(x)
}

func (m *match) time() time.Time {
	if m.flags&matchTime != 0 {
		return m.h.x.time
	}
	return time.Unix(0, m.at).UTC()
}

func (m *match) pos() pipeline.Position {
	if m.flags&matchPos != 0 {
		return m.h.x.pos
	}
	return pipeline.MakePosition(capture.LSN(m.lsn), m.index, m.ord)
}

func (m *match) idText() string {
	if m.flags&matchUUID == 0 {
		return m.h.x.id
	}
	return formatUUID(m.id)
}

func (m *match) aggID(key string) string {
	if m.flags&matchAggID != 0 {
		return m.h.x.aggID
	}
	return key
}

func (m *match) value() string {
	if m.h.x == nil {
		return ""
	}
	return m.h.x.value
}

// cel returns the match of key as CEL reads it (matched.NAME).
func (m *match) cel(key string) (map[string]any, error) {
	data, err := dataValueString(m.data)
	if err != nil {
		return nil, err
	}
	return m.celWith(key, data), nil
}

// celWith returns the match of key as CEL reads it (matched.NAME), with
// its data decoded (dataValueString).
func (m *match) celWith(key string, data any) map[string]any {
	return map[string]any{
		"type": m.h.typ, "version": int64(m.h.version), "aggregate_type": m.h.aggType, "aggregate_id": m.aggID(key),
		"id": m.idText(), "position": string(m.pos()), "time": m.time(), "data": data,
	}
}

// matchJSON is a match as Snapshot writes it.
type matchJSON struct {
	Type    string            `json:"t"`
	Version int               `json:"v,omitempty"`
	AggType string            `json:"g,omitempty"`
	AggID   string            `json:"a,omitempty"`
	ID      string            `json:"i"`
	Pos     pipeline.Position `json:"p"`
	Time    time.Time         `json:"m"`
	Data    json.RawMessage   `json:"d,omitempty"`
	Value   string            `json:"x,omitempty"` // sum: the event's value
}

func (m *match) toJSON(key string) matchJSON {
	return matchJSON{Type: m.h.typ, Version: m.h.version, AggType: m.h.aggType, AggID: m.aggID(key),
		ID: m.idText(), Pos: m.pos(), Time: m.time(), Data: json.RawMessage(m.data), Value: m.value()}
}

func (e *Engine) matchFromJSON(j matchJSON, key string) match {
	m := match{h: e.head(j.Type, j.AggType, j.Version), data: string(j.Data)}
	m.build(j.ID, j.Pos, posParts{}, j.Time, j.AggID, key, j.Value)
	return m
}

// open is an open match: an absence start (and, once fired, a timeout
// awaiting resolution) or a sequence's partial match: its first match, the
// later steps in its head. Its deadline is the first match's time + the
// rule's within, so it is not stored.
type open struct {
	first match
}

func (o *open) len() int {
	if o.first.h.x == nil {
		return 1
	}
	return 1 + len(o.first.h.x.later)
}

func (o *open) at(i int) *match {
	if i == 0 {
		return &o.first
	}
	return &o.first.h.x.later[i-1]
}

// matches returns every match of o, in step order.
func (o *open) matches() []match {
	out := make([]match, 0, o.len())
	out = append(out, o.first)
	if o.first.h.x != nil {
		out = append(out, o.first.h.x.later...)
	}
	for i := range out {
		if out[i].h.x != nil && out[i].h.x.later != nil {
			x := *out[i].h.x // the first match's own parts, without the steps
			x.later = nil
			out[i].setExtra(&x)
		}
	}
	return out
}

// with returns o with m matched as its next step; o is unchanged.
func (o open) with(m match) open {
	x := o.first.extraCopy()
	x.later = append(append(make([]match, 0, len(x.later)+1), x.later...), m)
	o.first.setExtra(x)
	return o
}

func (o *open) deadline(r *rule) time.Time { return o.first.time().Add(r.within) }

// openJSON is an open match as Snapshot writes it.
type openJSON struct {
	Matched  []matchJSON `json:"m"`
	Deadline time.Time   `json:"d"`
}

// keyState is everything one rule keeps for one key.
type keyState struct {
	open    []open       // absence starts; sequence partial matches
	fired   *[]open      // absence: timeouts awaiting resolution; nil for none
	w       *windowState // count and sum
	timerAt int64        // the deadline in the timer heap (Unix ns, 0: none); not saved (rebuilt)
}

func (ks *keyState) firedList() []open {
	if ks.fired == nil {
		return nil
	}
	return *ks.fired
}

func (ks *keyState) setFired(l []open) {
	switch {
	case len(l) == 0:
		ks.fired = nil
	case ks.fired == nil:
		ks.fired = &l
	default:
		*ks.fired = l
	}
}

// windowState is a count or sum rule's window for one key: the sliding
// window's events, or the tumbling window's start, first and last events,
// count, sum and whether it fired.
type windowState struct {
	win      []match
	winStart time.Time
	first    *match
	last     *match
	count    int64
	sum      string
	done     bool
}

// windowJSON is a windowState as Snapshot writes it.
type windowJSON struct {
	Win      []matchJSON `json:"e,omitempty"`
	WinStart time.Time   `json:"s,omitzero"`
	First    *matchJSON  `json:"f,omitempty"`
	Last     *matchJSON  `json:"l,omitempty"`
	Count    int64       `json:"c,omitempty"`
	Sum      string      `json:"x,omitempty"`
	Done     bool        `json:"d,omitempty"`
}

// keyJSON is a keyState as Snapshot writes it.
type keyJSON struct {
	Open  []openJSON  `json:"o,omitempty"`
	Fired []openJSON  `json:"f,omitempty"`
	W     *windowJSON `json:"w,omitempty"`
}

func opensJSON(list []open, r *rule, key string) []openJSON {
	if len(list) == 0 {
		return nil
	}
	out := make([]openJSON, len(list))
	for i := range list {
		ms := list[i].matches()
		js := make([]matchJSON, len(ms))
		for j := range ms {
			js[j] = ms[j].toJSON(key)
		}
		out[i] = openJSON{Matched: js, Deadline: list[i].deadline(r)}
	}
	return out
}

func (ks *keyState) toJSON(r *rule, key string) *keyJSON {
	kj := &keyJSON{Open: opensJSON(ks.open, r, key), Fired: opensJSON(ks.firedList(), r, key)}
	if w := ks.w; w != nil {
		wj := &windowJSON{WinStart: w.winStart, Count: w.count, Sum: w.sum, Done: w.done}
		for i := range w.win {
			wj.Win = append(wj.Win, w.win[i].toJSON(key))
		}
		if w.first != nil {
			f := w.first.toJSON(key)
			wj.First = &f
		}
		if w.last != nil {
			l := w.last.toJSON(key)
			wj.Last = &l
		}
		kj.W = wj
	}
	return kj
}

// keyFromJSON rebuilds the keyState of key.
func (e *Engine) keyFromJSON(kj *keyJSON, key string) *keyState {
	ks := &keyState{}
	opens := func(list []openJSON) []open {
		var out []open
		for _, oj := range list {
			if len(oj.Matched) == 0 {
				continue
			}
			o := open{first: e.matchFromJSON(oj.Matched[0], key)}
			for _, mj := range oj.Matched[1:] {
				o = o.with(e.matchFromJSON(mj, key))
			}
			out = append(out, o)
		}
		return out
	}
	ks.open = opens(kj.Open)
	ks.setFired(opens(kj.Fired))
	if wj := kj.W; wj != nil {
		w := &windowState{winStart: wj.WinStart, count: wj.Count, sum: wj.Sum, done: wj.Done}
		for _, mj := range wj.Win {
			w.win = append(w.win, e.matchFromJSON(mj, key))
		}
		if wj.First != nil {
			f := e.matchFromJSON(*wj.First, key)
			w.first = &f
		}
		if wj.Last != nil {
			l := e.matchFromJSON(*wj.Last, key)
			w.last = &l
		}
		ks.w = w
	}
	return ks
}

// parseUUID reads a UUID in its canonical lower-case form (the form of
// pipeline's event ids); ok is false for any other text.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var bad byte
	for j, i := range uuidDigits {
		hi, lo := lowerHex[s[i]], lowerHex[s[i+1]]
		bad |= hi | lo
		u[j] = hi<<4 | lo&0xf
	}
	return u, bad&0xf0 == 0
}

// uuidDigits are the offsets of the 16 digit pairs of a canonical UUID.
var uuidDigits = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// lowerHex maps '0'-'9' and 'a'-'f' to their values, every other byte to 0xff.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
	}
	return t
}()

func formatUUID(u [16]byte) string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[x>>4], hex[x&0xf]
		j += 2
	}
	return string(b[:])
}

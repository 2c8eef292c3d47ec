package redisview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/cdcflow/cdcflow/pipeline"
)

// This file is the pure half of applying a batch: from the stored state of the
// batch's aggregates (read by the caller) and the batch's events it computes
// the writes and the checks that the atomic script makes. Index and aggregate
// views are derived from each entity's state before and after, never from the
// events, so they stay right whatever the history.

// aggState is one aggregate's stored state, as read before the batch.
type aggState struct {
	pos      pipeline.Position
	seen     uint64                       // latest snapshot epoch the aggregate was seen in
	entities map[string]map[string]string // by entity view; nil map = no entity
	present  bool                         // the pos field exists
	// deleted, when not 0, marks the position as a tombstone: the aggregate
	// has no key left in any view since that time (Unix seconds, the commit
	// time of the event or control record that removed it).
	deleted int64
	// derived, when not nil, is every derived view's entry for entities
	// (kept with a cached state, so that its next batch does not evaluate
	// them again); nil means not computed.
	derived derived
	// guessed marks a state taken as new without reading it (cache.go): an
	// event that cannot be projected on it is not poison before the state
	// is read.
	guessed bool
}

// posValue is the stored value of the position guard:
// "<position> <seen epoch>", with " <deleted>" for a tombstone.
func (s *aggState) posValue() string {
	if !s.present {
		return ""
	}
	v := string(s.pos) + " " + strconv.FormatUint(s.seen, 10)
	if s.deleted != 0 {
		v += " " + strconv.FormatInt(s.deleted, 10)
	}
	return v
}

func parsePosValue(v string) (pos pipeline.Position, seen uint64, deleted int64, err error) {
	p, rest, ok := strings.Cut(v, " ")
	if !ok {
		return "", 0, 0, fmt.Errorf("stored position %q: want \"<position> <epoch>[ <deleted>]\"", v)
	}
	e, d, tomb := strings.Cut(rest, " ")
	if seen, err = strconv.ParseUint(e, 10, 64); err != nil {
		return "", 0, 0, fmt.Errorf("stored position %q: %w", v, err)
	}
	if tomb {
		if deleted, err = strconv.ParseInt(d, 10, 64); err != nil || deleted == 0 {
			return "", 0, 0, fmt.Errorf("stored position %q: bad deletion time", v)
		}
	}
	return pipeline.Position(p), seen, deleted, nil
}

// tombstoneTime is the deletion time stored in a tombstone: t in Unix
// seconds (at least 1). An event without a time gives 0: its tombstone is
// not marked and never compacted.
func tombstoneTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.Unix(), 1)
}

// member is a derived view's entry for one entity state.
type member struct {
	in    bool
	key   string  // index: the set's key suffix ("" without key); aggregate: the group
	score float64 // index
	sums  []int64 // aggregate, scaled
}

func (m member) equal(o member) bool {
	return m.in == o.in && m.key == o.key && m.score == o.score && slices.Equal(m.sums, o.sums)
}

// derived is every derived view's entry for one state, by view name.
type derived map[string]member

// ProjectError says why an event cannot be projected. It is a poison event:
// the consumer sends it to the dead-letter topic, a replay stops on it.
type ProjectError struct {
	Offset  int64  // the record's offset
	EventID string // the event's id, "" when it could not be decoded
	Err     error
}

// Error implements error.
func (e *ProjectError) Error() string {
	return fmt.Sprintf("project event %q at offset %d: %v", e.EventID, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *ProjectError) Unwrap() error { return e.Err }

// deriveAll evaluates every index and aggregate view of the aggregate type
// over the entity states ents. When prev is not nil it holds the views'
// entries for the states prevEnts, and a view whose inputs are the same in
// both (see stateRefs) keeps its entry without being evaluated.
func (d *Definitions) deriveAll(agg string, ents map[string]map[string]string, prev derived, prevEnts map[string]map[string]string) (derived, error) {
	out := make(derived, 8)
	for _, v := range d.views {
		if (v.kind != KindIndex && v.kind != KindAggregate) || v.aggregate != agg {
			continue
		}
		state := ents[v.entity.name]
		if m, ok := prev[v.name]; ok && v.refs.same(prevEnts[v.entity.name], state) {
			out[v.name] = m
			continue
		}
		m, err := d.derive(v, state)
		if err != nil {
			return nil, err
		}
		out[v.name] = m
	}
	return out, nil
}

func (d *Definitions) derive(v *view, state map[string]string) (member, error) {
	if state == nil {
		return member{}, nil
	}
	if v.when != nil {
		r, err := v.when.evalState(state)
		if err != nil {
			return member{}, err
		}
		b, ok := r.(types.Bool)
		if !ok {
			return member{}, fmt.Errorf("%s: result is %s, want bool", v.when.where, r.Type().TypeName())
		}
		if !b {
			return member{}, nil
		}
	}
	m := member{in: true}
	switch v.kind {
	case KindIndex:
		r, err := v.score.evalState(state)
		if err != nil {
			return member{}, err
		}
		if m.score, err = scoreOf(r); err != nil {
			return member{}, fmt.Errorf("%s: %w", v.score.where, err)
		}
		if v.key != nil {
			r, err := v.key.evalState(state)
			if err != nil {
				return member{}, err
			}
			s, ok := r.(types.String)
			if !ok {
				return member{}, fmt.Errorf("%s: result is %s, want string", v.key.where, r.Type().TypeName())
			}
			m.key = string(s)
		}
	case KindAggregate:
		var err error
		if v.group != nil {
			m.key, err = d.groupValue(v.group, v.byDay, state)
		} else {
			parts := make([]string, len(v.parts))
			for i, gp := range v.parts {
				if parts[i], err = d.groupValue(gp.expr, gp.day, state); err != nil {
					break
				}
			}
			m.key = GroupKey(parts...)
		}
		if err != nil {
			return member{}, err
		}
		for _, s := range v.sums {
			r, err := s.expr.evalState(state)
			if err != nil {
				return member{}, err
			}
			n, err := scaled(r, s.scale)
			if err != nil {
				return member{}, fmt.Errorf("%s: %w", s.expr.where, err)
			}
			m.sums = append(m.sums, n)
		}
	}
	return m, nil
}

// groupValue evaluates a group expression (a plain group or one part of a
// composite one): a string, or with day the local date of a time.
func (d *Definitions) groupValue(p *program, day bool, state map[string]string) (string, error) {
	r, err := p.evalState(state)
	if err != nil {
		return "", err
	}
	if day {
		s, err := dayOf(r, d.Location)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.where, err)
		}
		return s, nil
	}
	s, ok := r.(types.String)
	if !ok {
		return "", fmt.Errorf("%s: result is %s, want string", p.where, r.Type().TypeName())
	}
	return string(s), nil
}

// historyEntry is one element of a history view, as JSON.
type historyEntry struct {
	Type     string          `json:"type"`
	Version  int             `json:"version,omitempty"`
	ID       string          `json:"id"`
	Position string          `json:"position"`
	Time     time.Time       `json:"time"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// encodeHistory returns ev's history entry: exactly what json.Marshal makes
// of a historyEntry, built directly when no field needs escaping (the common
// case, and much cheaper).
func encodeHistory(ev pipeline.Event) ([]byte, error) {
	y := ev.Time.Year()
	if !plainJSON(ev.Type) || !plainJSON(ev.ID) || !plainJSON(string(ev.Position)) || y < 0 || y > 9999 ||
		bytes.ContainsAny(ev.Data, "<>&\u2028\u2029") {
		return json.Marshal(historyEntry{Type: ev.Type, Version: ev.Version, ID: ev.ID, Position: string(ev.Position), Time: ev.Time, Data: ev.Data})
	}
	b := make([]byte, 0, 96+len(ev.Type)+len(ev.ID)+len(ev.Position)+len(ev.Data))
	b = append(b, `{"type":"`...)
	b = append(b, ev.Type...)
	b = append(b, '"')
	if ev.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(ev.Version), 10)
	}
	b = append(b, `,"id":"`...)
	b = append(b, ev.ID...)
	b = append(b, `","position":"`...)
	b = append(b, ev.Position...)
	b = append(b, `","time":"`...)
	b = ev.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if len(ev.Data) > 0 {
		b = append(b, `,"data":`...)
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, ev.Data); err != nil {
			return nil, fmt.Errorf("event data: %w", err)
		}
		b = buf.Bytes()
	}
	return append(b, '}'), nil
}

// plainJSON reports whether s is printable ASCII that json.Marshal writes
// as it is between quotes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// foldResult is what applying one aggregate's events produced.
type foldResult struct {
	final   map[string]map[string]string
	history map[string][]string // by history view: entries to append (nil: none yet)
	applied map[string]int      // by view: events that changed it (nil: none yet)
	pos     pipeline.Position
	seen    uint64
	time    time.Time // commit time of the last applied event
	touched bool      // at least one event was applied
	derived derived   // the derived views' entries for final (valid when touched)
	// derivedFrom is the entity states derived was computed from (final
	// when touched; the stored state when fold derived that first).
	derivedFrom map[string]map[string]string
}

// fold applies ev to an aggregate whose state is cur (updated in place).
// It returns whether the event was applied (false: stale or duplicate).
// On a projection error cur is unchanged.
func (d *Definitions) fold(cur *foldResult, ev pipeline.Event, snapEpoch uint64) (bool, error) {
	// Positions guard against duplicates and stale events; a snapshot state
	// event (Epoch > 0) at an equal position is idempotent and applied.
	if cur.pos != "" && (ev.Position < cur.pos || ev.Position == cur.pos && ev.Epoch == 0) {
		return false, nil
	}
	next := maps.Clone(cur.final)
	// Each view appears once: the loops below visit each view once.
	var buf [8]string
	changed := buf[:0]
	var data any
	for _, v := range d.views {
		if v.kind != KindEntity || v.aggregate != ev.AggregateType {
			continue
		}
		if v.deletes[ev.Type] {
			if next[v.name] != nil {
				next[v.name] = nil
				changed = append(changed, v.name)
			}
			continue
		}
		r, ok := v.rules[ev.Type]
		if !ok {
			continue
		}
		if data == nil && r.usesData {
			var err error
			if data, err = jsonValue(ev.Data); err != nil {
				return false, fmt.Errorf("decode data: %w", err)
			}
		}
		old := next[v.name]
		var state map[string]string
		if old != nil {
			state = maps.Clone(old)
		} else {
			state = make(map[string]string, len(r.fields))
		}
		// The event's fields are built when an expression the fast path
		// does not answer reads them, and only those the rule reads.
		vars := &vars{data: data, ev: ev, hasEv: true, evRefs: r.eventRefs, state: stateOrEmpty(old)}
		for _, f := range r.fields {
			val, err := f.expr.eval(vars)
			if err != nil {
				return false, err
			}
			text, ok, err := fieldText(val)
			if err != nil {
				return false, fmt.Errorf("%s: %w", f.expr.where, err)
			}
			if ok {
				state[f.name] = text
			} else {
				delete(state, f.name)
			}
		}
		next[v.name] = state
		changed = append(changed, v.name)
	}
	// Derived views must be computable on the new state, or the event is
	// poison: checking it here attributes the failure to this event.
	der, derFrom := cur.derived, cur.derivedFrom
	if der == nil || entityChanged(d, ev.AggregateType, changed) {
		var err error
		if der, err = d.deriveAll(ev.AggregateType, next, cur.derived, cur.derivedFrom); err != nil {
			return false, err
		}
		derFrom = next
	}
	var entry string
	for _, v := range d.views {
		if v.kind != KindHistory || v.aggregate != ev.AggregateType || v.types != nil && !v.types[ev.Type] {
			continue
		}
		if entry == "" {
			b, err := encodeHistory(ev)
			if err != nil {
				return false, fmt.Errorf("encode history entry: %w", err)
			}
			entry = string(b)
		}
		if cur.history == nil {
			cur.history = map[string][]string{}
		}
		cur.history[v.name] = append(cur.history[v.name], entry)
		changed = append(changed, v.name)
	}
	cur.final = next
	cur.derived, cur.derivedFrom = der, derFrom
	if cur.applied == nil && len(changed) > 0 {
		cur.applied = make(map[string]int, len(changed))
	}
	for _, name := range changed {
		cur.applied[name]++
	}
	cur.pos = ev.Position
	cur.time = ev.Time
	cur.seen = max(cur.seen, ev.Epoch, snapEpoch)
	cur.touched = true
	return true, nil
}

// entityChanged reports whether changed names an entity view of agg (the
// only views derived views depend on).
func entityChanged(d *Definitions, agg string, changed []string) bool {
	for _, name := range changed {
		if v := d.byName[name]; v.kind == KindEntity && v.aggregate == agg {
			return true
		}
	}
	return false
}

func stateOrEmpty(s map[string]string) map[string]string {
	if s == nil {
		return map[string]string{}
	}
	return s
}

// eventVars returns the fields of event refs names (all of them if refs.all).
func eventVars(ev pipeline.Event, refs stateRefs) map[string]any {
	out := make(map[string]any, len(refs.fields))
	has := func(f string) bool { return refs.all || slices.Contains(refs.fields, f) }
	if has("type") {
		out["type"] = ev.Type
	}
	if has("version") {
		out["version"] = int64(ev.Version)
	}
	if has("id") {
		out["id"] = ev.ID
	}
	if has("aggregate_id") {
		out["aggregate_id"] = ev.AggregateID
	}
	if has("position") {
		out["position"] = string(ev.Position)
	}
	if has("time") {
		out["time"] = ev.Time
	}
	if has("epoch") {
		out["epoch"] = int64(ev.Epoch)
	}
	return out
}

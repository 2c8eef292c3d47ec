package cep

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

// match is one matched event as the state keeps it.
type match struct {
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

func matchOf(ev pipeline.Event) match {
	return match{Type: ev.Type, Version: ev.Version, AggType: ev.AggregateType, AggID: ev.AggregateID,
		ID: ev.ID, Pos: ev.Position, Time: ev.Time.UTC(), Data: ev.Data}
}

// cel returns the match as CEL reads it (event, matched.NAME).
func (m *match) cel() (map[string]any, error) {
	data, err := dataValue(m.Data)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"type": m.Type, "version": int64(m.Version), "aggregate_type": m.AggType, "aggregate_id": m.AggID,
		"id": m.ID, "position": string(m.Pos), "time": m.Time, "data": data,
	}, nil
}

// open is an open match: an absence start (and, once fired, a timeout
// awaiting resolution) or a sequence's partial match.
type open struct {
	Matched  []match   `json:"m"`
	Deadline time.Time `json:"d"`
}

// keyState is everything one rule keeps for one key.
type keyState struct {
	Open  []open       `json:"o,omitempty"` // absence starts; sequence partial matches
	Fired []open       `json:"f,omitempty"` // absence: timeouts awaiting resolution
	W     *windowState `json:"w,omitempty"` // count and sum

	timerAt int64 // the deadline in the timer heap (Unix ns, 0: none); not saved (rebuilt)
}

// windowState is a count or sum rule's window for one key: the sliding
// window's events, or the tumbling window's start, first and last events,
// count, sum and whether it fired.
type windowState struct {
	Win      []match   `json:"e,omitempty"`
	WinStart time.Time `json:"s,omitzero"`
	First    *match    `json:"f,omitempty"`
	Last     *match    `json:"l,omitempty"`
	Count    int64     `json:"c,omitempty"`
	Sum      string    `json:"x,omitempty"`
	Done     bool      `json:"d,omitempty"`
}

type weight struct{ open, timers int }

// weigh returns the key's open matches and timers.
func (ks *keyState) weigh(r *rule) weight {
	switch r.kind {
	case KindAbsence, KindSequence:
		n := len(ks.Open) + len(ks.Fired)
		return weight{n, n}
	}
	if ks.W != nil && (len(ks.W.Win) > 0 || ks.W.Count > 0) {
		return weight{1, 1}
	}
	return weight{}
}

// nextDue returns the key's earliest deadline (zero: none).
func (ks *keyState) nextDue(r *rule) time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, o := range ks.Open {
		earlier(o.Deadline)
	}
	for _, o := range ks.Fired {
		earlier(o.Deadline.Add(r.resolveWithin))
	}
	switch w := ks.W; {
	case w == nil:
	case r.tumbling && w.Count > 0:
		earlier(w.WinStart.Add(r.window))
	case len(w.Win) > 0:
		earlier(w.Win[len(w.Win)-1].Time.Add(r.window))
	}
	return next
}

// onEvent matches one event against rule s.
func (e *Engine) onEvent(s *ruleState, in *inputEvent, emit func(pipeline.Event)) error {
	r := s.r
	key := in.ev.AggregateID
	if r.key != nil {
		vs, err := in.activation()
		if err != nil {
			return &evalError{err}
		}
		v, err := r.key.eval(vs)
		if err != nil {
			return &evalError{err}
		}
		if key, err = keyText(v); err != nil {
			return &evalError{err}
		}
	}
	if key == "" {
		return nil // no key: the rule does not apply
	}
	ks := s.keys[key]
	if ks == nil {
		ks = &keyState{}
		s.keys[key] = ks
	}
	before := ks.weigh(r)
	defer func() { e.touch(s, key, ks, before) }()
	switch r.kind {
	case KindAbsence:
		return e.absence(s, key, ks, in, emit)
	case KindSequence:
		return e.sequence(s, key, ks, in, emit)
	}
	return e.window(s, key, ks, in, emit)
}

// stepMatches reports whether in satisfies st, whose condition sees the
// matches so far. The event's data is decoded only for a condition.
func stepMatches(st *step, in *inputEvent, matched []match, names []string) (bool, error) {
	if !st.types[in.ev.Type] {
		return false, nil
	}
	if st.when == nil {
		return true, nil
	}
	vs, err := in.activation()
	if err != nil {
		return false, &evalError{err}
	}
	vs.matched = nil
	if len(matched) > 0 {
		vs.matched = map[string]any{}
		for i, m := range matched {
			c, err := m.cel()
			if err != nil {
				return false, err
			}
			vs.matched[names[i]] = c
		}
	}
	ok, err := st.when.evalBool(vs)
	if err != nil {
		return false, &evalError{err}
	}
	return ok, nil
}

func stepNames(r *rule) []string {
	out := make([]string, len(r.steps))
	for i, s := range r.steps {
		out[i] = s.name
	}
	return out
}

// bound drops the oldest open matches past the limit.
func (e *Engine) bound(s *ruleState, list []open) []open {
	if over := len(list) - e.cfg.MaxOpenPerKey; over > 0 {
		s.stats.Dropped += uint64(over)
		list = append(list[:0:0], list[over:]...)
	}
	return list
}

func (e *Engine) absence(s *ruleState, key string, ks *keyState, in *inputEvent, emit func(pipeline.Event)) error {
	r := s.r
	start, expect := r.steps[0], r.steps[1]
	names := []string{"start"}
	if expect.types[in.ev.Type] {
		// B cancels every open start its condition accepts, and resolves
		// every fired one.
		keep := ks.Open[:0]
		for _, o := range ks.Open {
			ok, err := stepMatches(expect, in, o.Matched, names)
			if err != nil {
				return err
			}
			if !ok {
				keep = append(keep, o)
			}
		}
		ks.Open = keep
		keepF := ks.Fired[:0]
		var resolved []open
		for _, o := range ks.Fired {
			ok, err := stepMatches(expect, in, o.Matched, names)
			if err != nil {
				return err
			}
			if ok {
				resolved = append(resolved, o)
			} else {
				keepF = append(keepF, o)
			}
		}
		ks.Fired = keepF
		for _, o := range resolved {
			s.stats.Matches++
			st := o.Matched[0]
			m, err := matchedVars([]match{st, matchOf(in.ev)}, []string{"start", "expect"})
			if err != nil {
				return &evalError{err}
			}
			ev := &vars{key: key, matched: m, deadline: o.Deadline}
			if err := e.derive(s, r.resolve, key, ev, in.ev.Time, []string{"resolve", string(st.Pos), string(in.ev.Position)}, emit); err != nil {
				return err
			}
		}
	}
	if ok, err := stepMatches(start, in, nil, nil); err != nil || !ok {
		return err
	}
	ks.Open = e.bound(s, append(ks.Open, open{Matched: []match{matchOf(in.ev)}, Deadline: in.ev.Time.UTC().Add(r.within)}))
	return nil
}

func (e *Engine) sequence(s *ruleState, key string, ks *keyState, in *inputEvent, emit func(pipeline.Event)) error {
	r := s.r
	names := stepNames(r)
	keep := ks.Open[:0]
	var done []open
	for _, o := range ks.Open {
		next := r.steps[len(o.Matched)]
		ok, err := stepMatches(next, in, o.Matched, names)
		if err != nil {
			return err
		}
		if ok {
			o.Matched = append(o.Matched[:len(o.Matched):len(o.Matched)], matchOf(in.ev))
			if len(o.Matched) == len(r.steps) {
				done = append(done, o)
				continue
			}
		}
		keep = append(keep, o)
	}
	ks.Open = keep
	for _, o := range done {
		s.stats.Matches++
		m, err := matchedVars(o.Matched, names)
		if err != nil {
			return &evalError{err}
		}
		parts := []string{"sequence"}
		for _, x := range o.Matched {
			parts = append(parts, string(x.Pos))
		}
		if err := e.derive(s, r.emit, key, &vars{key: key, matched: m}, in.ev.Time, parts, emit); err != nil {
			return err
		}
	}
	if ok, err := stepMatches(r.steps[0], in, nil, nil); err != nil || !ok {
		return err
	}
	ks.Open = e.bound(s, append(ks.Open, open{Matched: []match{matchOf(in.ev)}, Deadline: in.ev.Time.UTC().Add(r.within)}))
	return nil
}

func (e *Engine) window(s *ruleState, key string, ks *keyState, in *inputEvent, emit func(pipeline.Event)) error {
	r := s.r
	if ok, err := stepMatches(r.steps[0], in, nil, nil); err != nil || !ok {
		return err
	}
	if ks.W == nil {
		ks.W = &windowState{}
	}
	w := ks.W
	m := matchOf(in.ev)
	val := decimal.FromInt(1)
	if r.kind == KindSum {
		vs, err := in.activation()
		if err != nil {
			return &evalError{err}
		}
		v, err := r.value.eval(vs)
		if err != nil {
			return &evalError{err}
		}
		if val, err = sumValue(v); err != nil {
			return &evalError{err}
		}
		m.Value = val.String()
	}
	t := m.Time
	var first, last match
	var count int64
	var sum decimal.Decimal
	var winStart, winEnd time.Time
	var idParts []string
	if r.tumbling {
		ws := t.Truncate(r.window)
		switch {
		case w.Count > 0 && ws.Before(w.WinStart):
			s.stats.Late++
			return nil
		case w.Count == 0 || ws.After(w.WinStart):
			*w = windowState{WinStart: ws}
		}
		if w.First == nil {
			f := m
			w.First = &f
		}
		l := m
		w.Last = &l
		w.Count++
		cur := decimal.FromInt(0)
		if w.Sum != "" {
			cur = decimal.MustParse(w.Sum)
		}
		var err error
		if sum, err = cur.Add(val); err != nil {
			return &evalError{err}
		}
		w.Sum = sum.String()
		if w.Done || !reached(r, w.Count, sum) {
			return nil
		}
		w.Done = true
		first, last, count = *w.First, *w.Last, w.Count
		winStart, winEnd = ws, ws.Add(r.window)
		idParts = []string{"tumbling", ws.Format(time.RFC3339Nano)}
	} else {
		if n := len(w.Win); n > 0 && t.Before(w.Win[n-1].Time.Add(-r.window)) {
			s.stats.Late++
			return nil
		}
		w.Win = append(w.Win, m)
		from := t.Add(-r.window)
		drop := 0
		for drop < len(w.Win) && w.Win[drop].Time.Before(from) {
			drop++
		}
		if drop > 0 {
			w.Win = append(w.Win[:0:0], w.Win[drop:]...)
		}
		sum = decimal.FromInt(0)
		for _, w := range w.Win {
			x := decimal.FromInt(1)
			if w.Value != "" {
				x = decimal.MustParse(w.Value)
			}
			var err error
			if sum, err = sum.Add(x); err != nil {
				return &evalError{err}
			}
		}
		count = int64(len(w.Win))
		if !reached(r, count, sum) {
			return nil
		}
		first, last = w.Win[0], w.Win[len(w.Win)-1]
		winStart, winEnd = first.Time, last.Time
		idParts = []string{"sliding", string(first.Pos), string(last.Pos), strconv.FormatInt(count, 10)}
		w.Win = nil // fired: the next match starts afresh
	}
	s.stats.Matches++
	mv, err := matchedVars([]match{first, last}, []string{"first", "last"})
	if err != nil {
		return &evalError{err}
	}
	if r.kind == KindCount {
		sum = decimal.FromInt(count)
	}
	ev := &vars{key: key, matched: mv, count: count, sum: sum, winStart: winStart, winEnd: winEnd}
	return e.derive(s, r.emit, key, ev, t, idParts, emit)
}

// reached reports whether a window's count or sum reached the threshold.
func reached(r *rule, count int64, sum decimal.Decimal) bool {
	if r.kind == KindCount {
		return count >= int64(r.atLeast)
	}
	return sum.Cmp(r.sumMin) >= 0
}

func matchedVars(ms []match, names []string) (map[string]any, error) {
	out := make(map[string]any, len(ms))
	for i, m := range ms {
		c, err := m.cel()
		if err != nil {
			return nil, err
		}
		out[names[i]] = c
	}
	return out, nil
}

// expire handles a key whose timer the watermark passed: absence starts
// past their deadline fire, fired timeouts past their resolution window,
// sequence partial matches past theirs and windows past their end are
// dropped.
func (e *Engine) expire(s *ruleState, key string, ks *keyState, emit func(pipeline.Event)) error {
	r := s.r
	before := ks.weigh(r)
	defer func() { e.touch(s, key, ks, before) }()
	due := func(t time.Time) bool { return e.wm.After(t) }
	switch r.kind {
	case KindAbsence:
		keep := ks.Open[:0]
		var fired []open
		for _, o := range ks.Open {
			if due(o.Deadline) {
				fired = append(fired, o)
			} else {
				keep = append(keep, o)
			}
		}
		ks.Open = keep
		keepF := ks.Fired[:0]
		for _, o := range ks.Fired {
			if !due(o.Deadline.Add(r.resolveWithin)) {
				keepF = append(keepF, o)
			}
		}
		ks.Fired = keepF
		for _, o := range fired {
			s.stats.Matches++
			if e.cfg.Hooks.TimerFired != nil {
				e.cfg.Hooks.TimerFired(r.name, e.wm.Sub(o.Deadline))
			}
			if r.resolve != nil {
				ks.Fired = e.bound(s, append(ks.Fired, o))
			}
			m, err := matchedVars(o.Matched, []string{"start"})
			if err != nil {
				return err
			}
			vs := &vars{key: key, matched: m, deadline: o.Deadline}
			err = e.derive(s, r.emit, key, vs, o.Deadline, []string{"timeout", string(o.Matched[0].Pos), o.Deadline.Format(time.RFC3339Nano)}, emit)
			if err != nil {
				var ee *evalError
				if !errors.As(err, &ee) {
					return err
				}
				s.stats.Errors++
				if e.cfg.Hooks.EvalError != nil {
					e.cfg.Hooks.EvalError(r.name, e.cause.Position, ee.err)
				}
			}
		}
	case KindSequence:
		keep := ks.Open[:0]
		for _, o := range ks.Open {
			if !due(o.Deadline) {
				keep = append(keep, o)
			}
		}
		ks.Open = keep
	default:
		if r.tumbling {
			if ks.W != nil && ks.W.Count > 0 && due(ks.W.WinStart.Add(r.window)) {
				ks.W = nil
			}
		} else if w := ks.W; w != nil && len(w.Win) > 0 && due(w.Win[len(w.Win)-1].Time.Add(r.window)) {
			ks.W = nil
		}
	}
	return nil
}

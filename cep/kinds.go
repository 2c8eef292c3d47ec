package cep

import (
	"errors"
	"strconv"
	"time"

	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/pipeline/decimal"
)

type weight struct{ open, timers int }

// weigh returns the key's open matches and timers.
func (ks *keyState) weigh(r *rule) weight {
	switch r.kind {
	case KindAbsence, KindSequence:
		n := len(ks.open) + len(ks.firedList())
		return weight{n, n}
	}
	if ks.w != nil && (len(ks.w.win) > 0 || ks.w.count > 0) {
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
	for i := range ks.open {
		earlier(ks.open[i].deadline(r))
	}
	for _, o := range ks.firedList() {
		earlier(o.deadline(r).Add(r.resolveWithin))
	}
	switch w := ks.w; {
	case w == nil:
	case r.tumbling && w.count > 0:
		earlier(w.winStart.Add(r.window))
	case len(w.win) > 0:
		earlier(w.win[len(w.win)-1].time().Add(r.window))
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
	var err error
	switch r.kind {
	case KindAbsence:
		err = e.absence(s, key, ks, in, emit)
	case KindSequence:
		err = e.sequence(s, key, ks, in, emit)
	default:
		err = e.window(s, key, ks, in, emit)
	}
	e.touch(s, key, ks, before)
	return err
}

// stepMatches reports whether in satisfies st, whose condition sees the
// matches so far. The event's data is decoded only for a condition.
func stepMatches(st *step, in *inputEvent, key string, matched *open, names []string) (bool, error) {
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
	vs.key = key
	ms := vs.ms[:0]
	if matched != nil {
		for i := range matched.len() {
			ms = append(ms, *matched.at(i))
		}
		names = names[:len(ms)]
	} else {
		names = nil
	}
	vs.setMatched(names, ms)
	vs.want = nil
	ok, err := st.when.evalBool(vs)
	if cerr := vs.check(); cerr != nil {
		return false, cerr // as building matched failed before
	}
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
	names := absenceNames
	if expect.types[in.ev.Type] {
		// B cancels every open start its condition accepts, and resolves
		// every fired one.
		keep := ks.open[:0]
		for i := range ks.open {
			ok, err := stepMatches(expect, in, key, &ks.open[i], names)
			if err != nil {
				return err
			}
			if !ok {
				keep = append(keep, ks.open[i])
			}
		}
		clear(ks.open[len(keep):])
		ks.open = keep
		fired := ks.firedList()
		keepF := fired[:0]
		var resolved []open
		for i := range fired {
			ok, err := stepMatches(expect, in, key, &fired[i], names)
			if err != nil {
				return err
			}
			if ok {
				resolved = append(resolved, fired[i])
			} else {
				keepF = append(keepF, fired[i])
			}
		}
		clear(fired[len(keepF):])
		ks.setFired(keepF)
		for _, o := range resolved {
			s.stats.Matches++
			st := o.first
			ev := &vars{key: key, deadline: o.deadline(r)}
			ev.setMatched(absenceResolveNames, []match{st, e.matchIn(in, key)})
			if err := e.derive(s, r.resolve, key, ev, in.ev.Time, []string{"resolve", string(st.pos()), string(in.ev.Position)}, emit); err != nil {
				return err
			}
		}
	}
	if ok, err := stepMatches(start, in, key, nil, nil); err != nil || !ok {
		return err
	}
	ks.open = e.bound(s, appendOpen(ks.open, open{first: e.matchIn(in, key)}))
	return nil
}

func (e *Engine) sequence(s *ruleState, key string, ks *keyState, in *inputEvent, emit func(pipeline.Event)) error {
	r := s.r
	names := s.names
	keep := ks.open[:0]
	var done []open
	for i := range ks.open {
		o := ks.open[i]
		next := r.steps[o.len()]
		ok, err := stepMatches(next, in, key, &o, names)
		if err != nil {
			return err
		}
		if ok {
			o = o.with(e.matchIn(in, key))
			if o.len() == len(r.steps) {
				done = append(done, o)
				continue
			}
		}
		keep = append(keep, o)
	}
	clear(ks.open[len(keep):])
	ks.open = keep
	for _, o := range done {
		s.stats.Matches++
		ms := o.matches()
		vs := &vars{key: key}
		vs.setMatched(names, ms)
		parts := []string{"sequence"}
		for i := range ms {
			parts = append(parts, string(ms[i].pos()))
		}
		if err := e.derive(s, r.emit, key, vs, in.ev.Time, parts, emit); err != nil {
			return err
		}
	}
	if ok, err := stepMatches(r.steps[0], in, key, nil, nil); err != nil || !ok {
		return err
	}
	ks.open = e.bound(s, appendOpen(ks.open, open{first: e.matchIn(in, key)}))
	return nil
}

// appendOpen appends o to list, growing a list's backing array one open
// at a time while it is short: most keys hold one open match, and append's
// doubling would leave room for a second in each of a million keys.
func appendOpen(list []open, o open) []open {
	if len(list) == cap(list) && len(list) < 4 {
		grown := make([]open, len(list), len(list)+1)
		copy(grown, list)
		list = grown
	}
	return append(list, o)
}

func (e *Engine) window(s *ruleState, key string, ks *keyState, in *inputEvent, emit func(pipeline.Event)) error {
	r := s.r
	if ok, err := stepMatches(r.steps[0], in, key, nil, nil); err != nil || !ok {
		return err
	}
	if ks.w == nil {
		ks.w = &windowState{}
	}
	w := ks.w
	m := e.matchIn(in, key)
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
		m.setValue(val.String())
	}
	t := m.time()
	var first, last match
	var count int64
	var sum decimal.Decimal
	var winStart, winEnd time.Time
	var idParts []string
	if r.tumbling {
		ws := t.Truncate(r.window)
		switch {
		case w.count > 0 && ws.Before(w.winStart):
			s.stats.Late++
			return nil
		case w.count == 0 || ws.After(w.winStart):
			*w = windowState{winStart: ws}
		}
		if w.first == nil {
			f := m
			w.first = &f
		}
		l := m
		w.last = &l
		w.count++
		cur := decimal.FromInt(0)
		if w.sum != "" {
			cur = decimal.MustParse(w.sum)
		}
		var err error
		if sum, err = cur.Add(val); err != nil {
			return &evalError{err}
		}
		w.sum = sum.String()
		if w.done || !reached(r, w.count, sum) {
			return nil
		}
		w.done = true
		first, last, count = *w.first, *w.last, w.count
		winStart, winEnd = ws, ws.Add(r.window)
		idParts = []string{"tumbling", ws.Format(time.RFC3339Nano)}
	} else {
		if n := len(w.win); n > 0 && t.Before(w.win[n-1].time().Add(-r.window)) {
			s.stats.Late++
			return nil
		}
		w.win = append(w.win, m)
		from := t.Add(-r.window)
		drop := 0
		for drop < len(w.win) && w.win[drop].time().Before(from) {
			drop++
		}
		if drop > 0 {
			w.win = append(w.win[:0:0], w.win[drop:]...)
		}
		sum = decimal.FromInt(0)
		for i := range w.win {
			x := decimal.FromInt(1)
			if v := w.win[i].value(); v != "" {
				x = decimal.MustParse(v)
			}
			var err error
			if sum, err = sum.Add(x); err != nil {
				return &evalError{err}
			}
		}
		count = int64(len(w.win))
		if !reached(r, count, sum) {
			return nil
		}
		first, last = w.win[0], w.win[len(w.win)-1]
		winStart, winEnd = first.time(), last.time()
		idParts = []string{"sliding", string(first.pos()), string(last.pos()), strconv.FormatInt(count, 10)}
		w.win = nil // fired: the next match starts afresh
	}
	s.stats.Matches++
	if r.kind == KindCount {
		sum = decimal.FromInt(count)
	}
	ev := &vars{key: key, count: count, sum: sum, winStart: winStart, winEnd: winEnd}
	ev.setMatched(windowNames, []match{first, last})
	return e.derive(s, r.emit, key, ev, t, idParts, emit)
}

// reached reports whether a window's count or sum reached the threshold.
func reached(r *rule, count int64, sum decimal.Decimal) bool {
	if r.kind == KindCount {
		return count >= int64(r.atLeast)
	}
	return sum.Cmp(r.sumMin) >= 0
}

// The names of matched in the emits of absence and window rules.
var (
	absenceNames        = []string{"start"}
	absenceResolveNames = []string{"start", "expect"}
	windowNames         = []string{"first", "last"}
)

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
		keep := ks.open[:0]
		var fired []open
		for i := range ks.open {
			if due(ks.open[i].deadline(r)) {
				fired = append(fired, ks.open[i])
			} else {
				keep = append(keep, ks.open[i])
			}
		}
		clear(ks.open[len(keep):])
		ks.open = keep
		old := ks.firedList()
		keepF := old[:0]
		for i := range old {
			if !due(old[i].deadline(r).Add(r.resolveWithin)) {
				keepF = append(keepF, old[i])
			}
		}
		clear(old[len(keepF):])
		ks.setFired(keepF)
		for _, o := range fired {
			s.stats.Matches++
			deadline := o.deadline(r)
			if e.cfg.Hooks.TimerFired != nil {
				e.cfg.Hooks.TimerFired(r.name, e.wm.Sub(deadline))
			}
			if r.resolve != nil {
				ks.setFired(e.bound(s, append(ks.firedList(), o)))
			}
			// An undecodable match stops Feed here (rawCheck), as it
			// did when matched was built before deriving.
			vs := &vars{key: key, deadline: deadline, rawCheck: true}
			vs.setMatched(absenceNames, o.matches())
			err := e.derive(s, r.emit, key, vs, deadline, []string{"timeout", string(o.first.pos()), deadline.Format(time.RFC3339Nano)}, emit)
			if err != nil {
				var ee *evalError
				if !errors.As(err, &ee) {
					return err
				}
				s.stats.Errors++
				if e.cfg.Hooks.EvalError != nil {
					e.cfg.Hooks.EvalError(r.name, e.cause, ee.err)
				}
			}
		}
	case KindSequence:
		keep := ks.open[:0]
		for i := range ks.open {
			if !due(ks.open[i].deadline(r)) {
				keep = append(keep, ks.open[i])
			}
		}
		clear(ks.open[len(keep):])
		ks.open = keep
	default:
		if r.tumbling {
			if ks.w != nil && ks.w.count > 0 && due(ks.w.winStart.Add(r.window)) {
				ks.w = nil
			}
		} else if w := ks.w; w != nil && len(w.win) > 0 && due(w.win[len(w.win)-1].time().Add(r.window)) {
			ks.w = nil
		}
	}
	return nil
}

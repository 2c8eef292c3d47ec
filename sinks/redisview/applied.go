package redisview

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/pipeline"
)

// What each step stores for the query side, besides the views
//
// Every atomic step (apply.lua) of a partition also writes, in the same
// script call:
//
//   - the applied source position: hash <prefix>{pN}:gG:applied with lsn
//     (%016X) and time (Unix ms), the lowest of the positions each event
//     topic has applied in partition N (fields lsn:<topic> and time:<topic>):
//     partition N of every topic shares these keys, and one topic running
//     ahead of another proves nothing for the other's views. With
//     Config.Topics set, nothing is proven until each of them has applied a
//     step in the partition. A partition has applied L when every
//     source transaction whose commit end LSN is at most L is applied there.
//     A stream event of commit LSN C proves C (every transaction ending at or
//     before C committed before C, so its events came earlier in the
//     partition); one that carries its transaction's commit end LSN E
//     (pipeline.HeaderEndLSN: the last record of its transaction in the
//     partition) proves E (its own transaction is then whole in the
//     partition too); a progress record proves its LSN (the end of the last
//     transaction published before it); a snapshot's end marker proves the
//     snapshot's consistent point - 1. Snapshot rows and begin markers prove
//     nothing until their end marker. The position only moves forward; time
//     is the commit time of the record that moved it last;
//   - one entry of the change stream <prefix>{pN}:gG:changes (XADD MAXLEN ~
//     Config.ChangesMaxLen) when the step changed a view or moved the
//     applied position: topic, offset (the next offset after the step), lsn,
//     time, and views, a JSON object of view name -> the entity ids, index
//     members, aggregate group keys or history ids it changed;
//   - for each aggregate view group the step changed, its score in the
//     view's sorted sets <view>:top:count and <view>:top:sum:<name> (the
//     group's count and scaled sums in this partition, copied from the hash
//     inside the script), and the sums' scales in the hash (scale:<name>).

// DefaultChangesMaxLen is the default cap of each partition's change stream.
const DefaultChangesMaxLen = 10000

// track is what one step changes, for the change stream and the top sets.
type track struct {
	changed map[string]map[string]bool // view -> ids, members, group keys
	groups  map[*view]map[string]bool  // aggregate view -> groups changed
	lsn     uint64                     // the applied position the step proves (0: none)
	hint    int                        // the ids a view's set is sized for (the batch's events)
	at      time.Time                  // its commit time
}

func (s *step) touch(view, id string) {
	if s.changed == nil {
		s.changed = map[string]map[string]bool{}
	}
	m := s.changed[view]
	if m == nil {
		m = make(map[string]bool, s.hint)
		s.changed[view] = m
	}
	m[id] = true
}

func (s *step) touchGroup(dv *view, g string) {
	s.touch(dv.name, g)
	if s.groups == nil {
		s.groups = map[*view]map[string]bool{}
	}
	m := s.groups[dv]
	if m == nil {
		m = map[string]bool{}
		s.groups[dv] = m
	}
	m[g] = true
}

// prove notes that the step, once stored, has applied lsn (committed at at).
func (s *step) prove(lsn uint64, at time.Time) {
	if lsn > s.lsn {
		s.lsn, s.at = lsn, at
	}
}

// proves returns the source position a decoded record proves applied once
// it and everything before it in its partition is, and whether it proves
// any (see the comment at the top of this file).
func proves(ev pipeline.Event) (uint64, bool) {
	switch {
	case ev.Control == pipeline.ControlSnapshotBegin:
		return 0, false
	case ev.Control == pipeline.NotControl && ev.Epoch != 0:
		return 0, false // a snapshot row
	case ev.DeadLetter || ev.LSN == 0:
		return 0, false
	case ev.EndLSN > ev.LSN:
		return uint64(ev.EndLSN), true
	}
	return uint64(ev.LSN), true
}

// syncTops adds the writes that bring the top sets of the groups the step
// changed in line with the aggregate hashes, and the sums' scales.
func (v *Views) syncTops(s *step, p int32) {
	for _, dv := range slices.SortedFunc(maps.Keys(s.groups), func(a, b *view) int { return strings.Compare(a.name, b.name) }) {
		hash := v.keys.whole(p, dv.name)
		hi := s.key(hash)
		if len(dv.sums) > 0 {
			args := make([]any, 0, 2*len(dv.sums))
			for _, sr := range dv.sums {
				args = append(args, "scale:"+sr.name, strconv.Itoa(sr.scale))
			}
			s.op("HSET", hash, args...)
		}
		for _, g := range slices.Sorted(maps.Keys(s.groups[dv])) {
			s.op("ZSYNC", v.keys.top(p, dv.name, ""), hi, "count:"+g, "", g)
			for _, sr := range dv.sums {
				s.op("ZSYNC", v.keys.top(p, dv.name, sr.name), hi, "count:"+g, "sum:"+sr.name+":"+g, g)
			}
		}
	}
}

// finish adds the applied position and the change stream entry to s, which
// moves the stored offset of topic to to.
func (v *Views) finish(s *step, topic string, to int64) {
	p := s.p
	if s.lsn == 0 && len(s.changed) == 0 {
		return
	}
	ak := v.keys.applied(p)
	ai := s.key(ak)
	if s.lsn > 0 {
		args := append(make([]any, 0, 4+len(v.cfg.Topics)), topic, formatLSN(s.lsn), strconv.FormatInt(s.at.UnixMilli(), 10), len(v.cfg.Topics))
		for _, t := range v.cfg.Topics {
			args = append(args, t)
		}
		s.op("APPLIED", ak, args...)
	}
	mode := "ifmoved"
	if len(s.changed) > 0 {
		mode = "always"
	}
	s.op("CHANGE", v.keys.changes(p), ai, strconv.Itoa(v.cfg.ChangesMaxLen), mode, topic, strconv.FormatInt(to, 10), s.viewsJSON())
}

// viewsJSON is the change stream entry's views field: what json.Marshal
// makes of the changed ids (sorted) by view, built directly.
func (s *step) viewsJSON() string {
	b := make([]byte, 0, 64+24*len(s.changed))
	b = append(b, '{')
	for i, name := range slices.Sorted(maps.Keys(s.changed)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ":["...)
		for j, id := range slices.Sorted(maps.Keys(s.changed[name])) {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, id)
		}
		b = append(b, ']')
	}
	return string(append(b, '}'))
}

// appendJSONString appends s as json.Marshal writes it.
func appendJSONString(b []byte, s string) []byte {
	if plainJSON(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// formatLSN is the stored form of an applied position: %016X.
func formatLSN(lsn uint64) string {
	const digits = "0123456789ABCDEF"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[lsn&0xF]
		lsn >>= 4
	}
	return string(b[:])
}

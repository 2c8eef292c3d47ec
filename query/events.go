package query

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// The event stream (GET /v1/events/stream) is made from what a standalone
// server has, Redis: each change-stream entry names the aggregate ids whose
// history views a step appended to, and the events are read from those
// histories. So it carries the events of the aggregates that have a history
// view (of the event types those keep), in each partition's order.

// tailPerAggregate bounds what is read of one history per change entry.
const tailPerAggregate = 50

// seenCap bounds the event ids a stream remembers to never send twice.
const seenCap = 10000

// eventStreamer streams the events of every history view.
type eventStreamer struct {
	s       *Server
	views   []redisview.ViewInfo
	recent  int
	last    map[string]string // history view + "\x00" + id -> newest position sent
	applied map[int32]uint64  // partition -> applied position before the entry being read
	seen    map[string]bool   // event ids sent
	order   []string          // seen, oldest first, to forget the oldest
}

// streamEvents answers GET /v1/events/stream?limit=: the limit most recent
// events (default PageSize) in a state event, then each new one as an
// "event" event.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := knownParams(q, "limit", "last_event_id"); err != nil {
		return err
	}
	if q.Has("min_lsn") || q.Has("wait") {
		return badRequest("a stream takes no min_lsn or wait: its state is current and every change follows")
	}
	n, err := limit(q, s.cfg.PageSize, s.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	es := &eventStreamer{s: s, recent: n}
	for _, v := range s.defs.Views() {
		if v.Kind == redisview.KindHistory {
			es.views = append(es.views, v)
		}
	}
	if len(es.views) == 0 {
		return errorf(http.StatusNotFound, "no_history_view", "the event stream reads the history views, and the views file has none")
	}
	return s.stream(w, r, es)
}

// eventJSON is one event of a history with where it comes from.
type eventJSON struct {
	raw      map[string]json.RawMessage
	id       string
	view     string
	lsn      uint64
	position string
}

// decodeEvent reads one history entry ({type, version, id, position, time,
// data}) and adds the aggregate it belongs to.
func decodeEvent(raw json.RawMessage, v redisview.ViewInfo, aggID string) (eventJSON, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return eventJSON{}, false
	}
	var id, pos string
	_ = json.Unmarshal(m["id"], &id)
	_ = json.Unmarshal(m["position"], &pos)
	typ, _ := json.Marshal(v.Aggregate)
	agg, _ := json.Marshal(aggID)
	view, _ := json.Marshal(v.Name)
	m["aggregate_type"], m["aggregate_id"], m["view"] = typ, agg, view
	return eventJSON{raw: m, id: id, position: pos, view: v.Name, lsn: positionLSN(pos)}, true
}

// positionLSN is the commit LSN at the head of a position
// ("%016X-%08X-%04X"); 0 when it has none.
func positionLSN(pos string) uint64 {
	if len(pos) < 16 {
		return 0
	}
	var n uint64
	for _, c := range pos[:16] {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | uint64(c-'0')
		case c >= 'A' && c <= 'F':
			n = n<<4 | uint64(c-'A'+10)
		default:
			return 0
		}
	}
	return n
}

func (es *eventStreamer) remember(id string) {
	if id == "" || es.seen[id] {
		return
	}
	es.seen[id] = true
	es.order = append(es.order, id)
	if len(es.order) > seenCap {
		delete(es.seen, es.order[0])
		es.order = es.order[1:]
	}
}

// state is the most recent events: those of the aggregates the newest
// change entries name, newest last.
func (es *eventStreamer) state(ctx context.Context, snap *redisview.Snapshot) (any, error) {
	es.last, es.seen, es.order = map[string]string{}, map[string]bool{}, nil
	es.applied = map[int32]uint64{}
	states, err := snap.Applied(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range states {
		es.applied[st.Partition] = st.AppliedLSN
	}
	chs, err := snap.RecentChanges(ctx, es.recent)
	if err != nil {
		return nil, err
	}
	var all []eventJSON
	done := map[string]bool{}
	for _, c := range chs {
		for _, v := range es.views {
			for _, id := range c.Views[v.Name] {
				k := v.Name + "\x00" + id
				if done[k] {
					continue
				}
				done[k] = true
				evs, err := es.tail(ctx, snap, v, id)
				if err != nil {
					return nil, err
				}
				for _, e := range evs {
					es.last[k] = max(es.last[k], e.position)
				}
				all = append(all, evs...)
			}
		}
	}
	slices.SortStableFunc(all, func(a, b eventJSON) int { return cmp.Compare(a.position, b.position) })
	all = slices.CompactFunc(all, func(a, b eventJSON) bool { return a.id != "" && a.id == b.id })
	if len(all) > es.recent {
		all = all[len(all)-es.recent:]
	}
	out := make([]map[string]json.RawMessage, 0, len(all))
	for _, e := range all {
		es.remember(e.id)
		out = append(out, e.raw)
	}
	return map[string]any{"events": out}, nil
}

func (es *eventStreamer) tail(ctx context.Context, snap *redisview.Snapshot, v redisview.ViewInfo, id string) ([]eventJSON, error) {
	raws, err := snap.HistoryTail(ctx, v.Name, id, tailPerAggregate)
	if err != nil {
		return nil, err
	}
	out := make([]eventJSON, 0, len(raws))
	for _, raw := range raws {
		if e, ok := decodeEvent(raw, v, id); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// change sends the events one entry appended: for an aggregate already
// sent, those after its newest sent position; for another, those whose
// commit LSN is past what the partition had applied before the entry.
func (es *eventStreamer) change(ctx context.Context, snap *redisview.Snapshot, c redisview.Change) ([]message, error) {
	before := es.applied[c.Partition]
	es.applied[c.Partition] = max(before, c.AppliedLSN)
	var fresh []eventJSON
	for _, v := range es.views {
		for _, id := range c.Views[v.Name] {
			evs, err := es.tail(ctx, snap, v, id)
			if err != nil {
				return nil, err
			}
			k := v.Name + "\x00" + id
			last, known := es.last[k]
			for _, e := range evs {
				if es.seen[e.id] {
					continue
				}
				if known && strings.Compare(e.position, last) <= 0 {
					continue
				}
				if !known && e.lsn <= before {
					continue
				}
				fresh = append(fresh, e)
			}
			for _, e := range evs {
				es.last[k] = max(es.last[k], e.position)
			}
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(fresh, func(a, b eventJSON) int { return cmp.Compare(a.position, b.position) })
	var out []message
	for _, e := range fresh {
		if es.seen[e.id] {
			continue
		}
		es.remember(e.id)
		out = append(out, message{"event", e.raw})
	}
	return out, nil
}

package query

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// A stream's event id (Last-Event-ID on resume) is the generation and the
// position of every partition's change stream: "g7:1733490000000-0,0-0,…",
// one Redis stream entry ID per partition in partition order.

// streamPos is where a stream is: its generation and the last change-stream
// entry it has taken into account in each partition.
type streamPos struct {
	gen int64
	ids map[int32]string
}

func (p streamPos) String() string {
	var b strings.Builder
	b.WriteString("g" + strconv.FormatInt(p.gen, 10) + ":")
	for i := range int32(len(p.ids)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.ids[i])
	}
	return b.String()
}

// parseStreamPos reads a Last-Event-ID of a server with parts partitions.
func parseStreamPos(s string, parts int32) (streamPos, error) {
	var p streamPos
	g, rest, ok := strings.Cut(s, ":")
	if !ok || !strings.HasPrefix(g, "g") {
		return p, fmt.Errorf("Last-Event-ID %.60q: want g<generation>:<entry id>,…", s)
	}
	gen, err := strconv.ParseInt(g[1:], 10, 64)
	if err != nil || gen < 1 {
		return p, fmt.Errorf("Last-Event-ID %.60q: bad generation", s)
	}
	ids := strings.Split(rest, ",")
	if int32(len(ids)) != parts {
		return p, fmt.Errorf("Last-Event-ID %.60q: %d positions for %d partitions", s, len(ids), parts)
	}
	p = streamPos{gen: gen, ids: make(map[int32]string, parts)}
	for i, id := range ids {
		if _, _, err := parseEntryID(id); err != nil {
			return streamPos{}, fmt.Errorf("Last-Event-ID %.60q: %w", s, err)
		}
		p.ids[int32(i)] = id
	}
	return p, nil
}

// parseEntryID reads a Redis stream entry ID "<ms>-<seq>".
func parseEntryID(id string) (ms, seq uint64, err error) {
	a, b, ok := strings.Cut(id, "-")
	if ok {
		ms, err = strconv.ParseUint(a, 10, 64)
		if err == nil {
			seq, err = strconv.ParseUint(b, 10, 64)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("entry id %.40q: want <ms>-<seq>", id)
	}
	return ms, seq, nil
}

// entryAfter reports whether entry ID a comes after b.
func entryAfter(a, b string) bool {
	am, as, err1 := parseEntryID(a)
	bm, bs, err2 := parseEntryID(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return am > bm || (am == bm && as > bs)
}

// sseConn writes Server-Sent Events.
type sseConn struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (c *sseConn) send(ctx context.Context, event, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	var msg strings.Builder
	msg.WriteString("event: " + event + "\n")
	if id != "" {
		msg.WriteString("id: " + id + "\n")
	}
	msg.WriteString("data: ")
	msg.Write(b) // JSON has no raw newline
	msg.WriteString("\n\n")
	if _, err := c.w.Write([]byte(msg.String())); err != nil {
		return err
	}
	if err := c.rc.Flush(); err != nil {
		return err
	}
	firstEvent(ctx)
	return nil
}

func (c *sseConn) heartbeat() error {
	if _, err := c.w.Write([]byte(": keep-alive\n\n")); err != nil {
		return err
	}
	return c.rc.Flush()
}

// streamer is what a stream sends: its state, and the change events an
// entry of the change streams makes (none when the entry does not concern
// it).
type streamer interface {
	state(ctx context.Context, snap *redisview.Snapshot) (any, error)
	change(ctx context.Context, snap *redisview.Snapshot, c redisview.Change) ([]message, error)
}

// message is one event to send: its name and data.
type message struct {
	event string
	data  any
}

// openStream checks the client cap and starts the event stream; done
// closes it.
func (s *Server) openStream(w http.ResponseWriter) (*sseConn, *subscription, func(), error) {
	if n := s.sse.Add(1); n > int64(s.cfg.MaxSSEClients) {
		s.sse.Add(-1)
		return nil, nil, nil, errorf(http.StatusServiceUnavailable, "too_many_streams", "%d streams are open, the most this server takes (query.max_sse_clients)", s.cfg.MaxSSEClients)
	}
	sub := s.watch.subscribe()
	if sub == nil {
		s.sse.Add(-1)
		return nil, nil, nil, errorf(http.StatusServiceUnavailable, "not_streaming", "this server does not follow the change streams (it is not serving)")
	}
	s.cfg.Metrics.sse(1)
	done := func() {
		s.watch.unsubscribe(sub)
		s.sse.Add(-1)
		s.cfg.Metrics.sse(-1)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream lasts
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		done()
		return nil, nil, nil, err
	}
	return &sseConn{w: w, rc: rc}, sub, done, nil
}

// stream runs one SSE stream for st until the client leaves: the state (or,
// on a resume from Last-Event-ID, the changes since), then the changes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, st streamer) error {
	ctx := r.Context()
	conn, sub, done, err := s.openStream(w)
	if err != nil {
		return err
	}
	defer done()
	pos, snap, err := s.resume(ctx, conn, r, st)
	if err != nil {
		return s.streamEnd(ctx, conn, err)
	}
	beat := time.NewTicker(s.cfg.SSEHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			if err := conn.heartbeat(); err != nil {
				return nil
			}
		case <-sub.lost:
			// Fell behind the watcher or it stopped: start again.
			if ctx.Err() != nil {
				return nil
			}
			s.watch.unsubscribe(sub)
			if sub = s.watch.subscribe(); sub == nil {
				return nil
			}
			if pos, snap, err = s.restart(ctx, conn, st, "the stream fell behind"); err != nil {
				return s.streamEnd(ctx, conn, err)
			}
		case b := <-sub.ch:
			if b.reset || b.gen != pos.gen {
				if pos, snap, err = s.restart(ctx, conn, st, "the views' generation changed or their change stream was trimmed"); err != nil {
					return s.streamEnd(ctx, conn, err)
				}
				continue
			}
			// The batch wakes the stream; the stream reads from its own
			// positions. The shared watcher resolves where it starts when
			// it starts, which can be after this stream read its state:
			// the entries in between would never come in a batch.
			err := s.catchUp(ctx, conn, st, snap, &pos)
			if isTrimmed(err) {
				if pos, snap, err = s.restart(ctx, conn, st, "the change stream no longer holds the entries after this stream's position"); err != nil {
					return s.streamEnd(ctx, conn, err)
				}
				continue
			}
			if err != nil {
				return s.streamEnd(ctx, conn, err)
			}
		}
	}
}

// catchUp forwards the entries after pos without blocking, until a read
// comes back empty.
func (s *Server) catchUp(ctx context.Context, conn *sseConn, st streamer, snap *redisview.Snapshot, pos *streamPos) error {
	for {
		chs, err := snap.Changes(ctx, maps(pos.ids), 0, 256)
		if err != nil {
			return err
		}
		if len(chs) == 0 {
			return nil
		}
		if err := s.forward(ctx, conn, st, snap, pos, chs); err != nil {
			return err
		}
	}
}

// forward sends the change events of the entries after pos, moving pos.
func (s *Server) forward(ctx context.Context, conn *sseConn, st streamer, snap *redisview.Snapshot, pos *streamPos, chs []redisview.Change) error {
	for _, c := range chs {
		if !entryAfter(c.ID, pos.ids[c.Partition]) {
			continue // already in the state, or sent
		}
		pos.ids[c.Partition] = c.ID
		msgs, err := st.change(ctx, snap, c)
		if err != nil {
			return err
		}
		for i, m := range msgs {
			id := ""
			if i == len(msgs)-1 {
				id = pos.String() // a resume starts after the whole entry
			}
			if err := conn.send(ctx, m.event, id, m.data); err != nil {
				return err
			}
		}
	}
	return nil
}

// streamEnd ends a stream that failed after its start: an error event the
// client can read (EventSource reconnects by itself).
func (s *Server) streamEnd(ctx context.Context, conn *sseConn, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	e := classify(err)
	s.cfg.Logger.WarnContext(ctx, "stream ended", "err", e.message)
	_ = conn.send(ctx, "error", "", map[string]any{"code": e.code, "message": e.message})
	return nil
}

// resume starts a stream: from the client's Last-Event-ID when it is of
// the current generation and the entries after it are still kept (the
// changes since), else with a reset (when an id was given) and the state.
func (s *Server) resume(ctx context.Context, conn *sseConn, r *http.Request, st streamer) (streamPos, *redisview.Snapshot, error) {
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	if last == "" {
		return s.start(ctx, conn, st)
	}
	pos, err := parseStreamPos(last, s.parts)
	if err != nil {
		return s.restart(ctx, conn, st, err.Error())
	}
	snap, err := s.reader.Current(ctx)
	if err != nil {
		return streamPos{}, nil, err
	}
	if snap.Generation() != pos.gen {
		return s.restart(ctx, conn, st, fmt.Sprintf("the views' generation is %d now, not %d", snap.Generation(), pos.gen))
	}
	// Catch up without blocking until an entry comes back empty-handed.
	err = s.catchUp(ctx, conn, st, snap, &pos)
	if isTrimmed(err) {
		return s.restart(ctx, conn, st, "the change stream no longer holds the entries after Last-Event-ID")
	}
	if err != nil {
		return streamPos{}, nil, err
	}
	return pos, snap, nil
}

func maps(m map[int32]string) map[int32]string {
	out := make(map[int32]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// restart sends a reset event saying why, then the state.
func (s *Server) restart(ctx context.Context, conn *sseConn, st streamer, why string) (streamPos, *redisview.Snapshot, error) {
	if err := conn.send(ctx, "reset", "", map[string]string{"reason": why}); err != nil {
		return streamPos{}, nil, err
	}
	return s.start(ctx, conn, st)
}

// start sends the state event. The change streams' positions are read
// before the state, so no change after the state is missed (a change
// already in it may come again: change events carry current values).
func (s *Server) start(ctx context.Context, conn *sseConn, st streamer) (streamPos, *redisview.Snapshot, error) {
	snap, err := s.reader.Current(ctx)
	if err != nil {
		return streamPos{}, nil, err
	}
	ids, err := snap.ChangePositions(ctx)
	if err != nil {
		return streamPos{}, nil, err
	}
	pos := streamPos{gen: snap.Generation(), ids: ids}
	states, err := snap.Applied(ctx)
	if err != nil {
		return streamPos{}, nil, err
	}
	data, err := st.state(ctx, snap)
	if err != nil {
		return streamPos{}, nil, err
	}
	body := map[string]any{"freshness": s.freshnessOf(snap.Generation(), states)}
	if m, ok := data.(map[string]any); ok {
		for k, v := range m {
			body[k] = v
		}
	}
	return pos, snap, conn.send(ctx, "state", pos.String(), body)
}

// changeMeta is what every change event says of its entry.
func changeMeta(c redisview.Change) map[string]any {
	m := map[string]any{"partition": c.Partition, "applied_lsn": FormatLSN(c.AppliedLSN)}
	if !c.CommitTime.IsZero() {
		m["commit_time"] = c.CommitTime.UTC()
	}
	return m
}

// viewStreamer streams one view.
type viewStreamer struct {
	s    *Server
	v    redisview.ViewInfo
	id   string // entity, history
	iq   redisview.IndexQuery
	by   string // aggregate
	topN int
}

// streamView answers GET /v1/views/{view}/stream.
func (s *Server) streamView(w http.ResponseWriter, r *http.Request) error {
	v, err := s.viewOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	vs := &viewStreamer{s: s, v: v}
	switch v.Kind {
	case redisview.KindEntity, redisview.KindHistory:
		if err := knownParams(q, "id", "last_event_id", "limit"); err != nil {
			return err
		}
		vs.id = q.Get("id")
		if err := checkPart("id", vs.id); err != nil {
			return badRequest("a stream of %s view %q follows one aggregate: %s (id=<aggregate id>)", v.Kind, v.Name, err.(*apiError).message)
		}
		if vs.topN, err = limit(q, s.cfg.MaxPageSize, s.cfg.MaxPageSize); err != nil {
			return err
		}
	case redisview.KindIndex:
		if err := knownParams(q, "key", "min", "max", "limit", "order", "last_event_id"); err != nil {
			return err
		}
		if vs.iq, _, err = s.indexQuery(v, q); err != nil {
			return err
		}
	case redisview.KindAggregate:
		if err := knownParams(q, "by", "limit", "last_event_id"); err != nil {
			return err
		}
		if vs.by, vs.topN, err = s.groupsQuery(v, q); err != nil {
			return err
		}
	}
	if q.Has("min_lsn") || q.Has("wait") {
		return badRequest("a stream takes no min_lsn or wait: its state is current and every change follows")
	}
	return s.stream(w, r, vs)
}

func (vs *viewStreamer) state(ctx context.Context, snap *redisview.Snapshot) (any, error) {
	out := map[string]any{"view": vs.v.Name, "kind": vs.v.Kind}
	switch vs.v.Kind {
	case redisview.KindEntity:
		fields, err := snap.Entity(ctx, vs.v.Name, vs.id)
		if err != nil {
			return nil, err
		}
		out["id"], out["fields"] = vs.id, fields
	case redisview.KindHistory:
		evs, err := snap.HistoryTail(ctx, vs.v.Name, vs.id, vs.topN)
		if err != nil {
			return nil, err
		}
		if evs == nil {
			evs = []json.RawMessage{}
		}
		out["id"], out["events"] = vs.id, evs
	case redisview.KindIndex:
		items, next, err := vs.s.indexPage(ctx, snap, vs.v, vs.iq)
		if err != nil {
			return nil, err
		}
		out["items"], out["next_cursor"] = items, nil
		if next != "" {
			out["next_cursor"] = next
		}
	case redisview.KindAggregate:
		groups, err := vs.s.top(ctx, snap, vs.v.Name, vs.by, vs.topN)
		if err != nil {
			return nil, err
		}
		out["groups"], out["by"] = groups, vs.by
	}
	return out, nil
}

func (vs *viewStreamer) change(ctx context.Context, snap *redisview.Snapshot, c redisview.Change) ([]message, error) {
	data, err := vs.changeData(ctx, snap, c)
	if data == nil || err != nil {
		return nil, err
	}
	return []message{{"change", data}}, nil
}

func (vs *viewStreamer) changeData(ctx context.Context, snap *redisview.Snapshot, c redisview.Change) (any, error) {
	ids, ok := c.Views[vs.v.Name]
	if !ok {
		return nil, nil
	}
	out := changeMeta(c)
	out["view"] = vs.v.Name
	switch vs.v.Kind {
	case redisview.KindEntity:
		if !slices.Contains(ids, vs.id) {
			return nil, nil
		}
		fields, err := snap.Entity(ctx, vs.v.Name, vs.id)
		if err != nil {
			return nil, err
		}
		out["id"], out["fields"] = vs.id, fields // null: deleted
	case redisview.KindHistory:
		if !slices.Contains(ids, vs.id) {
			return nil, nil
		}
		evs, err := snap.HistoryTail(ctx, vs.v.Name, vs.id, vs.topN)
		if err != nil {
			return nil, err
		}
		out["id"], out["events"] = vs.id, evs
	case redisview.KindIndex:
		scores, err := snap.IndexScores(ctx, vs.v.Name, vs.iq.Key, ids)
		if err != nil {
			return nil, err
		}
		items := make([]map[string]any, 0, len(ids))
		for _, id := range ids {
			it := map[string]any{"id": id, "score": nil} // null: not in the index (any more)
			if f, ok := scores[id]; ok {
				if f < vs.iq.Min || f > vs.iq.Max {
					continue
				}
				it["score"] = number(f)
			}
			items = append(items, it)
		}
		if len(items) == 0 {
			return nil, nil
		}
		out["items"] = items
	case redisview.KindAggregate:
		groups, err := snap.Groups(ctx, vs.v.Name, ids)
		if err != nil {
			return nil, err
		}
		gs := make([]groupJSON, 0, len(ids))
		for _, k := range ids {
			g, ok := groups[k]
			if !ok {
				gs = append(gs, groupJSON{Key: k, Sums: map[string]string{}}) // count 0: gone
				continue
			}
			gs = append(gs, groupOf(k, g))
		}
		out["groups"] = gs
	}
	return out, nil
}

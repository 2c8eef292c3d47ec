package query

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cdcflow/cdcflow/pipeline/decimal"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// viewOf returns the view the path names, of one of the kinds (any kind
// when none is given): 404 listing the views when there is no such view,
// 400 when it is of another kind.
func (s *Server) viewOf(r *http.Request, kinds ...redisview.Kind) (redisview.ViewInfo, error) {
	return s.view(r.PathValue("view"), kinds...)
}

// view is viewOf for the view called name.
func (s *Server) view(name string, kinds ...redisview.Kind) (redisview.ViewInfo, error) {
	v, ok := s.views[name]
	if !ok {
		return v, errorf(http.StatusNotFound, "unknown_view", "no view %q; the views are %s", name, strings.Join(s.defs.Names(), ", "))
	}
	if len(kinds) == 0 {
		return v, nil
	}
	for _, k := range kinds {
		if v.Kind == k {
			return v, nil
		}
	}
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	return v, badRequest("view %q is a %s view; this endpoint reads %s views", name, v.Kind, strings.Join(ks, " or "))
}

// viewJSON is one view in GET /v1/views.
type viewJSON struct {
	Name       string            `json:"name"`
	Kind       redisview.Kind    `json:"kind"`
	Definition map[string]any    `json:"definition"`
	Partitions int32             `json:"partitions"`
	Generation int64             `json:"generation"`
	Endpoints  map[string]string `json:"endpoints"`
}

func (s *Server) describe(v redisview.ViewInfo, gen int64) viewJSON {
	def := map[string]any{}
	set := func(k string, val any, ok bool) {
		if ok {
			def[k] = val
		}
	}
	set("aggregate", v.Aggregate, v.Aggregate != "")
	set("entity", v.Entity, v.Entity != "")
	set("filtered", v.Filtered, v.Kind == redisview.KindIndex || v.Kind == redisview.KindAggregate)
	set("fields", v.Fields, v.Kind == redisview.KindEntity)
	set("event_types", v.EventTypes, v.EventTypes != nil)
	set("delete_on", v.DeleteOn, len(v.DeleteOn) > 0)
	set("keyed", v.Keyed, v.Kind == redisview.KindIndex)
	set("by_day", v.ByDay, v.Kind == redisview.KindAggregate && v.Parts == nil)
	if v.Kind == redisview.KindAggregate {
		parts := make([]map[string]any, 0, len(v.Parts))
		for _, p := range v.Parts {
			parts = append(parts, map[string]any{"name": p.Name, "day": p.Day})
		}
		sums := make([]map[string]any, 0, len(v.Sums))
		for _, sm := range v.Sums {
			sums = append(sums, map[string]any{"name": sm.Name, "scale": sm.Scale})
		}
		def["group_parts"], def["sums"] = parts, sums
	}
	set("max", v.Max, v.Kind == redisview.KindHistory)
	base := "/v1/views/" + v.Name
	ep := map[string]string{"stream": base + "/stream"}
	switch v.Kind {
	case redisview.KindEntity:
		ep["entity"] = base + "/entities/{id}"
	case redisview.KindIndex:
		ep["index"] = base + "/index"
	case redisview.KindAggregate:
		ep["groups"] = base + "/groups"
	case redisview.KindHistory:
		ep["history"] = base + "/history/{id}"
	}
	return viewJSON{Name: v.Name, Kind: v.Kind, Definition: def, Partitions: s.parts, Generation: gen, Endpoints: ep}
}

// listViews answers GET /v1/views: every view of the definitions file.
func (s *Server) listViews(w http.ResponseWriter, r *http.Request) error {
	if err := knownParams(r.URL.Query()); err != nil {
		return err
	}
	snap, f, err := s.read(r.Context(), r, 0)
	if err != nil {
		return err
	}
	views := make([]viewJSON, 0)
	for _, v := range s.defs.Views() {
		views = append(views, s.describe(v, snap.Generation()))
	}
	writeJSON(w, http.StatusOK, map[string]any{"views": views, "freshness": f})
	return nil
}

// getView answers GET /v1/views/{view}: one view.
func (s *Server) getView(w http.ResponseWriter, r *http.Request) error {
	v, err := s.viewOf(r)
	if err != nil {
		return err
	}
	if err := knownParams(r.URL.Query()); err != nil {
		return err
	}
	snap, f, err := s.read(r.Context(), r, 0)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"view": s.describe(v, snap.Generation()), "freshness": f})
	return nil
}

// getEntity answers GET /v1/views/{view}/entities/{id}. Without min_lsn
// it is one Redis round trip: the cached generation pointer
// (generation.go), then the entity with every partition's applied position
// in one pipeline (redisview's ReadEntities), shared with the other entity
// reads queued meanwhile (batch.go); the answer is written without
// reflection (encode.go).
func (s *Server) getEntity(w http.ResponseWriter, r *http.Request) error {
	return s.entity(w, r, r.PathValue("view"), r.PathValue("id"))
}

// getEntityPath is getEntity for a request routed around the mux (routes):
// the view and the id are read from the path.
func (s *Server) getEntityPath(w http.ResponseWriter, r *http.Request) error {
	view, id, _ := entityPath(r)
	return s.entity(w, r, view, id)
}

func (s *Server) entity(w http.ResponseWriter, r *http.Request, view, id string) error {
	v, err := s.view(view, redisview.KindEntity)
	if err != nil {
		return err
	}
	if err := checkPart("id", id); err != nil {
		return err
	}
	var fw freshnessWanted
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		if err := knownParams(q); err != nil {
			return err
		}
		if fw, err = s.wanted(q); err != nil {
			return err
		}
	}
	ctx := r.Context()
	var snap *redisview.Snapshot
	var waited *float64
	if fw.lsn > 0 {
		// Wait first; the positions read with the entity below are at
		// least those the wait saw.
		var f *freshness
		if snap, f, err = s.readWanted(ctx, fw, 0); err != nil {
			return err
		}
		waited = f.WaitedSeconds
	} else if snap, err = s.current(ctx); err != nil {
		return err
	}
	res, err := s.batch.readEntity(ctx, snap, v.Name, id)
	if err != nil {
		return err
	}
	f := s.freshnessOf(snap.Generation(), res.Applied)
	f.WaitedSeconds = waited
	if res.Fields == nil {
		e := errorf(http.StatusNotFound, "not_found", "view %q has no entity %q", v.Name, id)
		e.details = map[string]any{"freshness": f}
		return e
	}
	writeEntity(w, id, res.Fields, f)
	return nil
}

// indexItem is one member of an index page.
type indexItem struct {
	ID    string `json:"id"`
	Score number `json:"score"`
}

// getIndex answers GET /v1/views/{view}/index: one page by score range,
// ascending (or order=desc), with a cursor to the next page.
func (s *Server) getIndex(w http.ResponseWriter, r *http.Request) error {
	v, err := s.viewOf(r, redisview.KindIndex)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if err := knownParams(q, "key", "min", "max", "limit", "cursor", "order"); err != nil {
		return err
	}
	iq, cur, err := s.indexQuery(v, q)
	if err != nil {
		return err
	}
	var gen int64
	if cur != nil {
		gen, err = s.cursorGeneration(r.Context(), cur.Gen)
		if err != nil {
			return err
		}
	}
	snap, f, err := s.read(r.Context(), r, gen)
	if err != nil {
		return err
	}
	items, next, err := s.indexPage(r.Context(), snap, v, iq)
	if err != nil {
		return err
	}
	body := map[string]any{"items": items, "next_cursor": nil, "freshness": f}
	if next != "" {
		body["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// indexQuery reads an index request's parameters; cur is its cursor, if any.
func (s *Server) indexQuery(v redisview.ViewInfo, q map[string][]string) (redisview.IndexQuery, *cursor, error) {
	vals := urlValues(q)
	iq := redisview.IndexQuery{Key: vals.Get("key")}
	if v.Keyed {
		if err := checkPart("key", iq.Key); err != nil {
			return iq, nil, badRequest("view %q is keyed: %v (key=<value>)", v.Name, err.(*apiError).message)
		}
	} else if vals.Has("key") {
		return iq, nil, badRequest("view %q has no key; leave key out", v.Name)
	}
	var err error
	if iq.Min, err = score(vals, "min", math.Inf(-1)); err != nil {
		return iq, nil, err
	}
	if iq.Max, err = score(vals, "max", math.Inf(1)); err != nil {
		return iq, nil, err
	}
	switch vals.Get("order") {
	case "", "asc":
	case "desc":
		iq.Desc = true
	default:
		return iq, nil, badRequest("order %q: want asc or desc", vals.Get("order"))
	}
	if iq.Limit, err = limit(vals, s.cfg.PageSize, s.cfg.MaxPageSize); err != nil {
		return iq, nil, err
	}
	var cur *cursor
	if cs := vals.Get("cursor"); cs != "" {
		c, err := decodeCursor(cs)
		if err != nil {
			return iq, nil, badRequest("%v", err)
		}
		if c.Key != iq.Key || c.Desc != iq.Desc {
			return iq, nil, badRequest("cursor was made for another key or order; repeat the first page's key and order")
		}
		cur = &c
		iq.After = &redisview.IndexEntry{ID: c.ID, Score: c.Score}
	}
	return iq, cur, nil
}

// cursorGeneration checks that a cursor's generation can still be read:
// the current one, or an older one not yet deleted after a replay; 410
// once it is gone.
func (s *Server) cursorGeneration(ctx context.Context, gen int64) (int64, error) {
	snap, err := s.refreshGeneration(ctx, true)
	if err != nil {
		return 0, err
	}
	cur := snap.Generation()
	if gen == cur {
		return gen, nil
	}
	ok, err := s.reader.GenerationExists(ctx, gen)
	if err != nil {
		return 0, err
	}
	if !ok || gen > cur {
		return 0, errorf(http.StatusGone, "generation_gone",
			"the cursor reads generation %d, which is gone (the views were rebuilt; generation %d is current): start again without a cursor", gen, cur)
	}
	return gen, nil
}

// indexPage reads one page and makes the cursor of the next.
func (s *Server) indexPage(ctx context.Context, snap *redisview.Snapshot, v redisview.ViewInfo, iq redisview.IndexQuery) ([]indexItem, string, error) {
	entries, more, err := snap.IndexPage(ctx, v.Name, iq)
	if err != nil {
		return nil, "", err
	}
	items := make([]indexItem, len(entries))
	for i, e := range entries {
		items[i] = indexItem{ID: e.ID, Score: number(e.Score)}
	}
	next := ""
	if more && len(entries) > 0 {
		last := entries[len(entries)-1]
		next = cursor{Gen: snap.Generation(), Key: iq.Key, Desc: iq.Desc, Score: last.Score, ID: last.ID}.encode()
	}
	return items, next, nil
}

// groupJSON is one group of an aggregate view; sums are decimal strings at
// the view's scale.
type groupJSON struct {
	Key   string            `json:"key"`
	Parts map[string]string `json:"parts,omitempty"`
	Count int64             `json:"count"`
	Sums  map[string]string `json:"sums"`
}

func groupOf(key string, g redisview.Group) groupJSON {
	out := groupJSON{Key: key, Parts: g.Parts, Count: g.Count, Sums: make(map[string]string, len(g.Sums))}
	for name, d := range g.Sums {
		out.Sums[name] = decimalText(d)
	}
	return out
}

func decimalText(d decimal.Decimal) string { return d.String() }

// getGroups answers GET /v1/views/{view}/groups?by=count|<sum>&limit=:
// the top groups, descending, ties by group key.
func (s *Server) getGroups(w http.ResponseWriter, r *http.Request) error {
	v, err := s.viewOf(r, redisview.KindAggregate)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if err := knownParams(q, "by", "limit"); err != nil {
		return err
	}
	by, n, err := s.groupsQuery(v, q)
	if err != nil {
		return err
	}
	snap, f, err := s.read(r.Context(), r, 0)
	if err != nil {
		return err
	}
	groups, err := s.top(r.Context(), snap, v.Name, by, n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups, "by": by, "freshness": f})
	return nil
}

func (s *Server) groupsQuery(v redisview.ViewInfo, q map[string][]string) (string, int, error) {
	vals := urlValues(q)
	by := vals.Get("by")
	if by == "" {
		by = "count"
	}
	names := []string{"count"}
	for _, sm := range v.Sums {
		names = append(names, sm.Name)
	}
	found := false
	for _, n := range names {
		found = found || n == by
	}
	if !found {
		return "", 0, badRequest("by %q: view %q orders by %s", by, v.Name, strings.Join(names, ", "))
	}
	n, err := limit(vals, min(10, s.cfg.MaxPageSize), s.cfg.MaxPageSize)
	return by, n, err
}

// getHistory answers GET /v1/views/{view}/history/{id}?limit=: the
// aggregate's last limit events, newest last.
func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) error {
	v, err := s.viewOf(r, redisview.KindHistory)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := checkPart("id", id); err != nil {
		return err
	}
	q := r.URL.Query()
	if err := knownParams(q, "limit"); err != nil {
		return err
	}
	n, err := limit(q, s.cfg.MaxPageSize, s.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	snap, f, err := s.read(r.Context(), r, 0)
	if err != nil {
		return err
	}
	events, err := snap.HistoryTail(r.Context(), v.Name, id, n)
	if err != nil {
		return err
	}
	if events == nil {
		events = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "events": events, "freshness": f})
	return nil
}

// Stage is one stage of the pipeline in GET /v1/health, as far as the
// server can know it; nil fields are unknown.
type Stage struct {
	Name             string   `json:"name"`
	LagBytes         *uint64  `json:"lag_bytes,omitempty"`
	LagRecords       *int64   `json:"lag_records,omitempty"`
	StalenessSeconds *float64 `json:"staleness_seconds,omitempty"`
	Status           string   `json:"status,omitempty"`
	Note             string   `json:"note,omitempty"`
}

// getHealth answers GET /v1/health: the views' applied position and
// staleness per partition, and the pipeline's stages when the server runs
// inside `cdcflow run`.
func (s *Server) getHealth(w http.ResponseWriter, r *http.Request) error {
	if err := knownParams(r.URL.Query()); err != nil {
		return err
	}
	snap, f, err := s.read(r.Context(), r, 0)
	if err != nil {
		return err
	}
	views := Stage{Name: "views", StalenessSeconds: f.StalenessSeconds, Status: "ok",
		Note: "generation " + itoa(snap.Generation()) + ", " + itoa(int64(s.parts)) + " partitions"}
	stages := []Stage{}
	if s.cfg.Health != nil {
		stages = append(stages, s.cfg.Health(r.Context())...)
	}
	stages = append(stages, views)
	writeJSON(w, http.StatusOK, map[string]any{"stages": stages, "freshness": f})
	return nil
}

func urlValues(q map[string][]string) url.Values { return url.Values(q) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// top reads the limit first groups of an aggregate view by count or by a
// sum, merged over the partitions (redisview's Top, which never scans).
func (s *Server) top(ctx context.Context, snap *redisview.Snapshot, view, by string, limit int) ([]groupJSON, error) {
	groups, err := snap.Top(ctx, view, by, limit)
	if err != nil {
		return nil, err
	}
	out := make([]groupJSON, 0, len(groups))
	for _, g := range groups {
		out = append(out, groupOf(g.Key, g.Group))
	}
	return out, nil
}

package redisview

import (
	"maps"
	"slices"
)

// ViewInfo describes one view of a definitions file for readers that do not
// know the file, such as the query API: what the view keeps and how its
// answers are shaped. It carries no CEL source.
type ViewInfo struct {
	Name string
	Kind Kind
	// Aggregate is the aggregate type the view follows (for index and
	// aggregate views: that of their entity view).
	Aggregate string
	// Entity is the entity view an index or aggregate view derives from.
	Entity string
	// Filtered is true when an index or aggregate view has a when predicate.
	Filtered bool
	// Fields are the fields an entity view's rules set, sorted.
	Fields []string
	// EventTypes are the event types an entity view folds, or a history
	// view keeps (nil: every type), sorted.
	EventTypes []string
	// DeleteOn are the event types that delete an entity, sorted.
	DeleteOn []string
	// Keyed is true for an index view with a key (one sorted set per value).
	Keyed bool
	// ByDay is true for an aggregate view whose plain group is a time
	// grouped by local date.
	ByDay bool
	// Parts are a composite group's parts, in key order; nil for a plain
	// group.
	Parts []GroupPart
	// Sums are an aggregate view's sums, in file order.
	Sums []Sum
	// Max is the number of events a history view keeps per aggregate; 0 is
	// unbounded.
	Max int
}

// GroupPart is one part of a composite group.
type GroupPart struct {
	Name string
	Day  bool // a time grouped by local date
}

// Sum is one exact sum of an aggregate view, kept scaled by 10^Scale.
type Sum struct {
	Name  string
	Scale int
}

// Views describes every view, in file order.
func (d *Definitions) Views() []ViewInfo {
	out := make([]ViewInfo, 0, len(d.views))
	for _, v := range d.views {
		out = append(out, v.info())
	}
	return out
}

// View describes the view name; ok is false when there is none.
func (d *Definitions) View(name string) (info ViewInfo, ok bool) {
	v, ok := d.byName[name]
	if !ok {
		return ViewInfo{}, false
	}
	return v.info(), true
}

func (v *view) info() ViewInfo {
	in := ViewInfo{Name: v.name, Kind: v.kind, Aggregate: v.aggregate, Max: v.max, ByDay: v.byDay}
	if v.entity != nil {
		in.Entity = v.entity.name
	}
	in.Filtered = v.when != nil
	in.Keyed = v.key != nil
	switch v.kind {
	case KindEntity:
		fields := map[string]bool{}
		for _, r := range v.rules {
			for _, f := range r.fields {
				fields[f.name] = true
			}
		}
		in.Fields = slices.Sorted(maps.Keys(fields))
		in.EventTypes = slices.Sorted(maps.Keys(v.rules))
		in.DeleteOn = slices.Sorted(maps.Keys(v.deletes))
	case KindHistory:
		if v.types != nil {
			in.EventTypes = slices.Sorted(maps.Keys(v.types))
		}
	}
	for _, p := range v.parts {
		in.Parts = append(in.Parts, GroupPart{Name: p.name, Day: p.day})
	}
	for _, s := range v.sums {
		in.Sums = append(in.Sums, Sum{Name: s.name, Scale: s.scale})
	}
	return in
}

package redisview

import (
	"fmt"
	"slices"
	"sort"
)

// DerivedOnly classifies the aggregate types whose entity and history views
// fold, keep or delete on the event types in derived (events another stage,
// such as the CEP rules, derives from the mapping's): it returns those whose
// views fold only derived types, and an error naming the first aggregate
// type whose views fold both kinds. Index and aggregate views follow their
// entity view and do not count; a history of every type counts as mapped.
//
// Why both kinds on one aggregate type are refused: the views keep one
// position guard per aggregate and it orders one stream, so a derived event
// reaching the views after a later mapped event of its aggregate would be
// dropped as stale (docs/views.md).
func (d *Definitions) DerivedOnly(derived []string) (map[string]bool, error) {
	mapped := map[string]bool{}
	onDerived := map[string]bool{}
	for _, v := range d.Views() {
		if v.Kind != KindEntity && v.Kind != KindHistory {
			continue
		}
		if v.EventTypes == nil {
			mapped[v.Aggregate] = true
		}
		for _, t := range slices.Concat(v.EventTypes, v.DeleteOn) {
			if slices.Contains(derived, t) {
				onDerived[v.Aggregate] = true
			} else {
				mapped[v.Aggregate] = true
			}
		}
	}
	aggs := make([]string, 0, len(onDerived))
	for agg := range onDerived {
		aggs = append(aggs, agg)
	}
	sort.Strings(aggs)
	for _, agg := range aggs {
		if mapped[agg] {
			return nil, fmt.Errorf("the views of aggregate %q fold both the mapping's events and derived ones: "+
				"the views keep one position guard per aggregate, so a derived event reaching the view after a later mapped event of its aggregate would be dropped as stale; "+
				"put the views over derived events in a views file of their own, materialized with their own views.prefix and views.group (docs/views.md)", agg)
		}
	}
	return onDerived, nil
}

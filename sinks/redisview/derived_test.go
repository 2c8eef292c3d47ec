package redisview

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestDerivedOnly(t *testing.T) {
	derived := []string{"OrderOverdue", "OrderOverdueResolved"}
	tests := []struct {
		name, views string
		want        []string // aggregate types over derived events only
		err         string
	}{
		{name: "mapped only", views: `
  - name: o
    kind: entity
    aggregate: order
    on: [{type: OrderRequested, set: {total: data.total}}]
`},
		{name: "derived only, with an index over it", views: `
  - name: overdue
    kind: entity
    aggregate: order
    on: [{type: OrderOverdue, set: {due: data.due}}]
    delete_on: [OrderOverdueResolved]
  - name: overdue_orders
    kind: index
    entity: overdue
    score: timestamp(state.due)
`, want: []string{"order"}},
		{name: "a delete_on of a derived type mixes", views: `
  - name: o
    kind: entity
    aggregate: order
    on: [{type: OrderRequested, set: {total: data.total}}]
    delete_on: [OrderOverdueResolved]
`, err: `aggregate "order" fold both`},
		{name: "a history of every type counts as mapped", views: `
  - name: overdue
    kind: entity
    aggregate: order
    on: [{type: OrderOverdue, set: {due: data.due}}]
  - name: h
    kind: history
    aggregate: order
`, err: `aggregate "order" fold both`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDefinitions([]byte("version: 1\nviews:" + tt.views))
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.DerivedOnly(derived)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "views file of their own") {
					t.Fatalf("err = %v; want one containing %q and what to do", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, tt.want) {
				t.Errorf("derived-only aggregates %v; want %v", keys, tt.want)
			}
		})
	}
}

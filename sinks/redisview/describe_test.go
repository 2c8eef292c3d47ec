package redisview

import (
	"fmt"
	"testing"
)

func TestDescribe(t *testing.T) {
	defs := testDefinitions(t)
	got := map[string]string{}
	for _, v := range defs.Views() {
		got[v.Name] = fmt.Sprintf("%+v", v)
	}
	want := map[string]string{
		"order":           "{Name:order Kind:entity Aggregate:order Entity: Filtered:false Fields:[customer_id ordered_at status total updated_at] EventTypes:[OrderAccepted OrderDeclared OrderDeclined OrderPromised OrderRejected OrderRequested OrderRevoked OrderStateObserved] DeleteOn:[OrderDeleted] Keyed:false ByDay:false Parts:[] Sums:[] Max:0}",
		"pending":         "{Name:pending Kind:index Aggregate:order Entity:order Filtered:true Fields:[] EventTypes:[] DeleteOn:[] Keyed:false ByDay:false Parts:[] Sums:[] Max:0}",
		"by_customer":     "{Name:by_customer Kind:index Aggregate:order Entity:order Filtered:false Fields:[] EventTypes:[] DeleteOn:[] Keyed:true ByDay:false Parts:[] Sums:[] Max:0}",
		"per_status":      "{Name:per_status Kind:aggregate Aggregate:order Entity:order Filtered:false Fields:[] EventTypes:[] DeleteOn:[] Keyed:false ByDay:false Parts:[] Sums:[{Name:total Scale:2}] Max:0}",
		"revenue_per_day": "{Name:revenue_per_day Kind:aggregate Aggregate:order Entity:order Filtered:true Fields:[] EventTypes:[] DeleteOn:[] Keyed:false ByDay:true Parts:[] Sums:[{Name:revenue Scale:2}] Max:0}",
		"history":         "{Name:history Kind:history Aggregate:order Entity: Filtered:false Fields:[] EventTypes:[] DeleteOn:[] Keyed:false ByDay:false Parts:[] Sums:[] Max:0}",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %s\nwant %s", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d views; want %d", len(got), len(want))
	}
	if v, ok := defs.View("per_status"); !ok || v.Kind != KindAggregate {
		t.Errorf("View(per_status) = %+v, %v", v, ok)
	}
	if _, ok := defs.View("nope"); ok {
		t.Error("View(nope) found a view")
	}
}

package redisview

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// TestViewsJSONEqualsMarshal checks that the change stream's views field is
// byte for byte what json.Marshal makes of the sorted ids by view, escaping
// included.
func TestViewsJSONEqualsMarshal(t *testing.T) {
	tests := []map[string]map[string]bool{
		{},
		{"order": {"o2": true, "o1": true}},
		{"pending": {"o1": true}, "by_customer": {"c1": true, "c\"2": true}, "per_status": {"requested": true, "<b>&": true}},
		{"order": {"ü\u2028\\x\n": true, "": true}, "h\t": {"\x00": true}},
	}
	for _, changed := range tests {
		s := &step{track: track{changed: changed}}
		out := map[string][]string{}
		for name, ids := range changed {
			out[name] = slices.Sorted(maps.Keys(ids))
		}
		want, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.viewsJSON(); got != string(want) {
			t.Errorf("viewsJSON of %v = %s, want %s", changed, got, want)
		}
	}
}

package cepkafka

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/cdcflow/cdcflow/cep"
)

func TestPauseResume(t *testing.T) {
	p := func(n int32) cep.PartitionID { return cep.PartitionID{Topic: "t", Partition: n} }
	tests := []struct {
		name               string
		accepted, released map[cep.PartitionID]int64
		paused             map[cep.PartitionID]bool
		buffered, limit    int
		wantPause          string
		wantResume         string
		wantPaused         string
	}{
		{
			name:     "over the limit: the partitions holding records pause, the one the merge waits for does not",
			accepted: map[cep.PartitionID]int64{p(0): 10, p(1): 30, p(2): 20}, released: map[cep.PartitionID]int64{p(0): 10, p(1): 20, p(2): 15},
			paused: map[cep.PartitionID]bool{}, buffered: 15, limit: 10,
			wantPause: "map[t:[1 2]]", wantResume: "map[]", wantPaused: "map[t/1:true t/2:true]",
		},
		{
			// The regression: p1 paused, its records all released since, so
			// the merge waits for it while p0 and p2 hold more than half the
			// limit. Kept paused, it would stop the merge for good.
			name:     "a paused partition the merge now waits for resumes at once",
			accepted: map[cep.PartitionID]int64{p(0): 40, p(1): 30, p(2): 25}, released: map[cep.PartitionID]int64{p(0): 31, p(1): 30, p(2): 20},
			paused: map[cep.PartitionID]bool{p(1): true, p(2): true}, buffered: 14, limit: 10,
			wantPause: "map[t:[0]]", wantResume: "map[t:[1]]", wantPaused: "map[t/0:true t/2:true]",
		},
		{
			name:     "under half the limit: everything resumes",
			accepted: map[cep.PartitionID]int64{p(0): 10, p(1): 12, p(2): 11}, released: map[cep.PartitionID]int64{p(0): 10, p(1): 10, p(2): 10},
			paused: map[cep.PartitionID]bool{p(1): true, p(2): true}, buffered: 3, limit: 10,
			wantPause: "map[]", wantResume: "map[t:[1 2]]", wantPaused: "map[]",
		},
		{
			name:     "between half and the limit: nothing changes",
			accepted: map[cep.PartitionID]int64{p(0): 10, p(1): 17, p(2): 11}, released: map[cep.PartitionID]int64{p(0): 10, p(1): 10, p(2): 10},
			paused: map[cep.PartitionID]bool{p(1): true}, buffered: 8, limit: 10,
			wantPause: "map[]", wantResume: "map[]", wantPaused: "map[t/1:true]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paused := maps.Clone(tt.paused)
			pause, resume := pauseResume(tt.accepted, tt.released, paused, tt.buffered, tt.limit)
			for _, m := range []map[string][]int32{pause, resume} {
				for _, ps := range m {
					slices.Sort(ps)
				}
			}
			names := map[string]bool{}
			for q, v := range paused {
				names[q.String()] = v
			}
			if got := fmt.Sprint(pause); got != tt.wantPause {
				t.Errorf("pause = %s; want %s", got, tt.wantPause)
			}
			if got := fmt.Sprint(resume); got != tt.wantResume {
				t.Errorf("resume = %s; want %s", got, tt.wantResume)
			}
			if got := fmt.Sprint(names); got != tt.wantPaused {
				t.Errorf("paused after = %s; want %s", got, tt.wantPaused)
			}
		})
	}
}

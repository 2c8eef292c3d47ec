package cepkafka

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes
	tests := []struct {
		name  string
		snaps [][]byte // committed one after the other
		chunk int
	}{
		{name: "one small", snaps: [][]byte{[]byte(`{"a":1}`)}, chunk: 64},
		{name: "empty snapshot", snaps: [][]byte{{}}, chunk: 64},
		{name: "grows", snaps: [][]byte{[]byte(`{}`), big}, chunk: 64},
		{name: "shrinks: stale chunks tombstoned", snaps: [][]byte{big, []byte(`{"small":true}`)}, chunk: 64},
		{name: "exact multiple", snaps: [][]byte{big[:640]}, chunk: 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newStateReader("cep")
			other := newStateReader("cep2") // a second name on the same topic
			prev := 0
			for g, snap := range tt.snaps {
				recs, n := stateRecords("state", "cep", uint64(g+1), snap, tt.chunk, prev)
				prev = n
				for _, rec := range recs {
					r.add(rec.Key, rec.Value)
					other.add(rec.Key, rec.Value)
				}
			}
			got, gen, n, err := r.snapshot()
			if err != nil {
				t.Fatal(err)
			}
			want := tt.snaps[len(tt.snaps)-1]
			if !bytes.Equal(got, want) || gen != uint64(len(tt.snaps)) || n != prev {
				t.Errorf("snapshot() = %d bytes, generation %d, %d chunks; want %d bytes, %d, %d", len(got), gen, n, len(want), len(tt.snaps), prev)
			}
			if len(r.chunks) != n {
				t.Errorf("%d chunks kept after tombstones; want %d", len(r.chunks), n)
			}
			if _, _, _, err := other.snapshot(); !errors.Is(err, errNoState) {
				t.Errorf("another name's snapshot() = %v; want errNoState", err)
			}
		})
	}
}

func TestStateTorn(t *testing.T) {
	snap := bytes.Repeat([]byte("x"), 300)
	recs, _ := stateRecords("state", "cep", 1, snap, 100, 0)
	newer, _ := stateRecords("state", "cep", 2, bytes.Repeat([]byte("y"), 300), 100, 3)
	tests := []struct {
		name string
		recs [][2][]byte
		want string
	}{
		{name: "chunk missing", recs: [][2][]byte{{recs[0].Key, recs[0].Value}, {recs[3].Key, recs[3].Value}}, want: "chunk 1 missing"},
		{name: "chunk of another generation", recs: [][2][]byte{
			{recs[0].Key, recs[0].Value}, {recs[1].Key, recs[1].Value}, {newer[2].Key, newer[2].Value}, {recs[3].Key, recs[3].Value},
		}, want: "chunk 2 is of generation 2"},
		{name: "bad header", recs: [][2][]byte{{[]byte("cep"), []byte("{")}}, want: "decode state header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newStateReader("cep")
			for _, kv := range tt.recs {
				r.add(kv[0], kv[1])
			}
			if _, _, _, err := r.snapshot(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("snapshot() = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

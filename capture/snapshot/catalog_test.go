package snapshot

import (
	"slices"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
)

func TestNewRelationKeys(t *testing.T) {
	attrs := []attr{{num: 1, name: "id", typeOID: 23}, {num: 2, name: "code", typeOID: 25}, {num: 3, name: "note", typeOID: 25}}
	pk, ri := []int16{1}, []int16{2}
	tests := []struct {
		ident byte
		keys  []bool
	}{
		{'d', []bool{true, false, false}},  // primary key
		{'i', []bool{false, true, false}},  // the replica identity index
		{'f', []bool{true, true, true}},    // FULL: every column
		{'n', []bool{false, false, false}}, // NOTHING
	}
	for _, tt := range tests {
		rel := newRelation(7, "public", "t", tt.ident, attrs, pk, ri)
		var keys []bool
		for _, c := range rel.Columns {
			keys = append(keys, c.Key)
		}
		if rel.OID != 7 || rel.ReplicaIdentity != capture.ReplicaIdentity(tt.ident) || !slices.Equal(keys, tt.keys) {
			t.Errorf("newRelation(identity %c) = %+v, keys %v; want keys %v", tt.ident, rel, keys, tt.keys)
		}
	}
}

func TestTableSetKey(t *testing.T) {
	all := []attr{{num: 1, name: "id", typeOID: 23}, {num: 2, name: "code", typeOID: 25}, {num: 3, name: "note", typeOID: 25}}
	tests := []struct {
		name     string
		cols     []string
		key      []int16
		wantCols []string
		wantKey  []int
		wantOIDs []uint32
		wantErr  bool
	}{
		{"key selected", []string{"id", "note"}, []int16{1}, []string{"id", "note"}, []int{0}, []uint32{23}, false},
		{"key left out by the column list", []string{"note"}, []int16{2, 1}, []string{"note", "code", "id"}, []int{1, 2}, []uint32{25, 23}, false},
		{"no key: ctid", []string{"id"}, nil, []string{"id"}, nil, nil, false},
		{"unknown key column", []string{"id"}, []int16{9}, nil, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &table{cols: slices.Clone(tt.cols)}
			err := tb.setKey(all, tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("setKey = %v; want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !slices.Equal(tb.cols, tt.wantCols) || !slices.Equal(tb.key, tt.wantKey) || !slices.Equal(tb.keyOIDs, tt.wantOIDs) {
				t.Errorf("setKey: cols %v key %v oids %v; want %v %v %v", tb.cols, tb.key, tb.keyOIDs, tt.wantCols, tt.wantKey, tt.wantOIDs)
			}
		})
	}
}

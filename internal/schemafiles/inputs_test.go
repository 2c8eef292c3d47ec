package schemafiles

import (
	"reflect"
	"testing"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/pipeline"
)

func TestDraftColumns(t *testing.T) {
	cols := []capture.Column{{Name: "Id", TypeName: "int8"}, {Name: "State", TypeName: "InvoiceState"}, {Name: "Note", TypeName: "text"}, {Name: "Gone", TypeName: "text"}}
	facts := map[string]snapshot.ColumnFacts{
		"Id":    {NotNull: true, Storage: 'p'},
		"State": {NotNull: true, Enum: []string{"draft", "paid"}, Storage: 'p'},
		"Note":  {Storage: 'x'},
		// Gone has no facts: a column dropped since; nullable, toastable.
	}
	tests := []struct {
		name     string
		identity capture.ReplicaIdentity
		want     map[string]pipeline.DraftColumn
	}{
		{"default identity", capture.IdentityDefault, map[string]pipeline.DraftColumn{
			"Id":    {Type: "int8", NotNull: true},
			"State": {Type: "InvoiceState", NotNull: true, Enum: []string{"draft", "paid"}},
			"Note":  {Type: "text", Toastable: true},
			"Gone":  {Type: "text", Toastable: true},
		}},
		{"identity full: the old row carries every value", capture.IdentityFull, map[string]pipeline.DraftColumn{
			"Id":    {Type: "int8", NotNull: true},
			"State": {Type: "InvoiceState", NotNull: true, Enum: []string{"draft", "paid"}},
			"Note":  {Type: "text"},
			"Gone":  {Type: "text"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := &capture.Relation{Schema: "Legacy", Table: "Invoice", ReplicaIdentity: tt.identity, Columns: cols}
			if got := draftColumns(rel, facts); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("draftColumns = %+v; want %+v", got, tt.want)
			}
		})
	}
}

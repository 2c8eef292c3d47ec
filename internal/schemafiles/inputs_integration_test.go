package schemafiles

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// legacySQL has quoted mixed-case names, an enum and an array of it, a
// composite key, jsonb and a TOASTable text column.
const legacySQL = `
CREATE SCHEMA "Legacy";
CREATE TYPE "Legacy"."InvoiceState" AS ENUM ('draft', 'open', 'paid');
CREATE TABLE "Legacy"."Invoice" (
    "InvoiceNo" bigint NOT NULL,
    "Branch"    integer NOT NULL,
    "State"     "Legacy"."InvoiceState" NOT NULL,
    "History"   "Legacy"."InvoiceState"[],
    "Meta"      jsonb,
    "Note"      text,
    PRIMARY KEY ("InvoiceNo", "Branch")
);`

// legacyMapping names schemas that do not exist yet: DraftInputs must not
// read them.
const legacyMapping = `version: 1
schemas: missing-schemas
tables:
  - table: '"Legacy"."Invoice"'
    aggregate:
      type: invoice
      id: string(row.InvoiceNo) + "-" + string(row.Branch)
    events:
      - type: InvoiceIssued
        version: 1
        when: op == "insert"
        data:
          state: row.State
          history: row.History
          note: row.Note
`

func writeMapping(t *testing.T, src string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestIntegrationDraftInputs(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, legacySQL)
	file := writeMapping(t, legacyMapping)

	m, tables, err := DraftInputs(t.Context(), db.Conn(t), file, "UTC")
	if err != nil {
		t.Fatalf("DraftInputs: %v", err)
	}
	if m.SchemasDir() != "missing-schemas" {
		t.Errorf("SchemasDir = %q; want missing-schemas", m.SchemasDir())
	}
	cols := tables[pipeline.TableName{Schema: "Legacy", Name: "Invoice"}]
	want := map[string]pipeline.DraftColumn{
		"InvoiceNo": {Type: "int8", NotNull: true},
		"Branch":    {Type: "int4", NotNull: true},
		"State":     {Type: "InvoiceState", NotNull: true, Enum: []string{"draft", "open", "paid"}},
		"History":   {Type: "_InvoiceState", Enum: []string{"draft", "open", "paid"}, Toastable: true},
		"Meta":      {Type: "jsonb", Toastable: true},
		"Note":      {Type: "text", Toastable: true},
	}
	if len(tables) != 1 || !reflect.DeepEqual(cols, want) {
		t.Errorf("DraftInputs tables %+v; want only \"Legacy\".\"Invoice\" with %+v", tables, want)
	}
	drafts, err := m.DraftSchemas(tables)
	if err != nil || len(drafts) != 1 || drafts[0].File != "InvoiceIssued.v1.json" {
		t.Errorf("DraftSchemas = %+v, %v; want the draft of InvoiceIssued v1", drafts, err)
	}

	// Under REPLICA IDENTITY FULL nothing is left out of an update.
	db.Exec(t, `ALTER TABLE "Legacy"."Invoice" REPLICA IDENTITY FULL`)
	_, tables, err = DraftInputs(t.Context(), db.Conn(t), file, "UTC")
	if err != nil {
		t.Fatalf("DraftInputs: %v", err)
	}
	for name, c := range tables[pipeline.TableName{Schema: "Legacy", Name: "Invoice"}] {
		if c.Toastable {
			t.Errorf("identity full: column %s is Toastable", name)
		}
	}
}

func TestIntegrationDraftInputsErrors(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	tests := []struct {
		name, mapping, want string
	}{
		{"no such table", legacyMapping, `schemas draft: describe table "Legacy"."Invoice": no such table`},
		{"not a mapping", "version: 1\ntables: 7\n", "mapping "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DraftInputs(t.Context(), db.Conn(t), writeMapping(t, tt.mapping), "UTC")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("DraftInputs = %v; want an error starting %q", err, tt.want)
			}
		})
	}
}

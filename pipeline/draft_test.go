package pipeline

import (
	"bytes"
	"encoding/json"
	"os"
	"path"
	"strings"
	"testing"
	"testing/fstest"
)

// TestDraftSchemasGolden drafts the schemas of the reference mapping and of
// a legacy-style mapping (testdata/draft/legacy) from fixed column types and
// compares them with the golden files (go test -update rewrites them). The
// drafts must then load as the mapping's schemas (every type covered, each
// compiles) and accept the events the mapping writes.
func TestDraftSchemasGolden(t *testing.T) {
	tests := []struct {
		name, mapping, tables, golden string
		unknown                       string // the fields of unknown type, by event type
		valid                         map[string]string
		invalid                       map[string]string // event type -> data its draft must refuse
	}{
		{
			name: "orders", mapping: referenceMapping, tables: "testdata/draft/orders.tables.json", golden: "testdata/draft/orders",
			unknown: "",
			valid: map[string]string{
				"OrderRequested":     `{"order_id":7,"customer_id":3,"total":"12.30","currency":"EUR","shipping_address":{"city":"Kiel"},"notes":null,"created_by":"app","ordered_at":"2026-11-23T23:30:00.000000","lines":[{"line_no":1,"product_id":2,"quantity":1,"unit_price":"12.30","discount":"0.00","amount":"12.30"}]}`,
				"PaymentReceived":    `{"order_id":7,"payment_id":1,"method":"card","amount":"12.30","reference":null,"paid_at":"2026-11-23T22:30:00.000000Z"}`,
				"CustomerUpdated":    `{"customer_id":3,"email":"a@b.c","full_name":"A","country":"DE","created_at":"2026-11-23T23:30:00.000000","updated_at":"2026-11-23T22:30:00.000000Z","unchanged":["tags"]}`,
				"ShipmentTracked":    `{"order_id":7,"shipment_id":1,"carrier":"DHL","tracking_no":"X","shipped_at":"2026-11-23T23:30:00.000000","delivered_at":null,"returned_at":null}`,
				"OrderStateObserved": `{"order_id":7,"customer_id":3,"status":"promised","total":"12.30","currency":"EUR","ordered_at":"2026-11-23T23:30:00.000000","updated_at":"2026-11-23T22:30:00.000000Z"}`,
			},
			invalid: map[string]string{
				"PaymentReceived": `{"order_id":7,"payment_id":1,"method":"gold","amount":"12.30","reference":null,"paid_at":"2026-11-23T22:30:00.000000Z"}`,
				"OrderPromised":   `{"order_id":"7","from":"N","total":"12.30","currency":"EUR","at":"2026-11-23T22:30:00.000000Z"}`,
				"OrderDeleted":    `{}`,
			},
		},
		{
			name: "legacy", mapping: "testdata/draft/legacy/mapping.yaml", tables: "testdata/draft/legacy/tables.json", golden: "testdata/draft/legacy/schemas",
			unknown: "InvoiceIssued:guess InvoiceObserved:guess",
			valid: map[string]string{
				"InvoiceIssued":  `{"invoice_no":"9007199254740993","state":"open","flags":[1,null],"channels":["web",null],"meta":{"note":1},"issued_on":"2026-11-23","due":null,"amount":"10.00","ratio":"NaN","gross":"11.9000","label":"INV-1","big":false,"guess":[1],"lines":[{"line":1,"sku":"A","qty":2}]}`,
				"InvoiceChanged": `{"invoice_no":"1","line":3}`,
			},
			invalid: map[string]string{
				"InvoiceIssued":   `{"invoice_no":1,"state":"open","channels":[],"issued_on":"2026-11-23","amount":"10.00","gross":"1","label":"x","big":false,"guess":null,"lines":[]}`,
				"InvoiceObserved": `{"invoice_no":"1","state":"void","channels":[],"issued_on":"2026-11-23","amount":"10.00","gross":"1","label":"x","big":false,"guess":null}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, base := path.Split(tt.mapping)
			m, err := Load(os.DirFS(dir), base, LoadOptions{SkipSchemas: true})
			if err != nil {
				t.Fatal(err)
			}
			drafts, err := m.DraftSchemas(readDraftTables(t, tt.tables))
			if err != nil {
				t.Fatal(err)
			}
			var unknown []string
			schemas := fstest.MapFS{"m.yaml": {Data: mappingWithSchemas(t, tt.mapping)}}
			for _, d := range drafts {
				checkGoldenBytes(t, path.Join(tt.golden, d.File), d.JSON)
				schemas["schemas/"+d.File] = &fstest.MapFile{Data: d.JSON}
				for _, u := range d.Unknown {
					unknown = append(unknown, d.Type+":"+u)
				}
			}
			if got := strings.Join(unknown, " "); got != tt.unknown {
				t.Errorf("fields of unknown type = %q; want %q", got, tt.unknown)
			}
			// The drafts are the mapping's schemas: all there, all compile.
			withSchemas, err := Load(schemas, "m.yaml", LoadOptions{})
			if err != nil {
				t.Fatalf("load the mapping with its drafted schemas: %v", err)
			}
			for typ, data := range tt.valid {
				if err := withSchemas.Validate(draftEvent(withSchemas, typ, data)); err != nil {
					t.Errorf("%s %s: %v; want valid", typ, data, err)
				}
			}
			for typ, data := range tt.invalid {
				if err := withSchemas.Validate(draftEvent(withSchemas, typ, data)); err == nil {
					t.Errorf("%s %s: valid; want refused", typ, data)
				}
			}
		})
	}
}

// TestDraftSchemasMissingColumn: a column the mapping reads that the live
// table lacks is an error naming the file, line, rule and column.
func TestDraftSchemasMissingColumn(t *testing.T) {
	m, err := Load(os.DirFS("testdata/draft/legacy"), "mapping.yaml", LoadOptions{SkipSchemas: true})
	if err != nil {
		t.Fatal(err)
	}
	tables := readDraftTables(t, "testdata/draft/legacy/tables.json")
	delete(tables[TableName{"sales", "Invoice"}], "Note")
	delete(tables, TableName{"sales", "InvoiceLine"})
	_, err = m.DraftSchemas(tables)
	for _, want := range []string{
		`mapping.yaml:52: rule sales."Invoice"/InvoiceChanged: field note: table sales."Invoice" has no column "Note"`,
		`table sales."InvoiceLine" is not among the live tables`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DraftSchemas = %v; want an error with %q", err, want)
		}
	}
}

func draftEvent(m *Mapping, typ, data string) Event {
	return Event{Type: typ, Version: m.versions[typ], Data: []byte(data)}
}

// readDraftTables reads a DraftTables fixture: {"schema.table": {column: DraftColumn}}.
func readDraftTables(t *testing.T, file string) DraftTables {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]map[string]DraftColumn
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := DraftTables{}
	for name, cols := range raw {
		schema, table, _ := strings.Cut(name, ".")
		out[TableName{schema, table}] = cols
	}
	return out
}

// mappingWithSchemas returns the mapping file naming "schemas" as its
// schemas directory.
func mappingWithSchemas(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "schemas:") {
			line = "schemas: schemas"
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

// checkGoldenBytes compares got with a golden file, or writes it under -update.
func checkGoldenBytes(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(path.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the draft (run go test -update to accept):\n%s", file, lineDiff(string(want), string(got)))
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// legacyDraftSQL is a legacy-style schema for the draft test: quoted
// mixed-case names, an enum and an array of it, a composite key, arrays,
// jsonb, and a text column large enough to be TOASTed.
const legacyDraftSQL = `
CREATE SCHEMA "Legacy";
CREATE TYPE "Legacy"."InvoiceState" AS ENUM ('draft', 'open', 'paid');
CREATE TABLE "Legacy"."Invoice" (
    "InvoiceNo" bigint NOT NULL,
    "Branch"    integer NOT NULL,
    "State"     "Legacy"."InvoiceState" NOT NULL,
    "History"   "Legacy"."InvoiceState"[],
    "Tags"      text[] NOT NULL DEFAULT '{}',
    "Meta"      jsonb,
    "Note"      text,
    "Amount"    numeric(12,2) NOT NULL,
    "IssuedAt"  timestamp NOT NULL,
    PRIMARY KEY ("InvoiceNo", "Branch")
);`

// legacyDraftMapping maps it; it names no schemas yet.
const legacyDraftMapping = `version: 1
topics:
  prefix: legacy.
tables:
  - table: '"Legacy"."Invoice"'
    aggregate:
      type: invoice
      id: string(row.InvoiceNo) + "-" + string(row.Branch)
    state:
      type: InvoiceObserved
      version: 1
      data: &invoice
        invoice_no: {value: row.InvoiceNo, as: string}
        branch: row.Branch
        state: row.State
        history: row.History
        tags: row.Tags
        meta: row.Meta
        note: row.Note
        amount: row.Amount
        issued_at: row.IssuedAt
        gross: decimal(row.Amount) * decimal("1.19")
        city: 'has(row.Meta.city) ? row.Meta.city : null'
    events:
      - type: InvoiceIssued
        version: 1
        when: op == "insert"
        data: *invoice
      - type: InvoiceChanged
        version: 1
        when: op == "update"
        data: *invoice
`

// TestIntegrationSchemasDraft drafts schemas with "cdcflow schemas draft"
// for the reference order database and for a legacy-style schema, from
// mappings that name none; "check" then accepts the mapping with them, and
// the Mapper cdcflow run builds (validation on) maps a snapshot and live
// changes (an unchanged TOASTed value among them) without a dead letter.
func TestIntegrationSchemasDraft(t *testing.T) {
	pg := testenv.Postgres(t)
	t.Run("orders", func(t *testing.T) {
		const dir = "../../deploy/examples/orders"
		schema, err := os.ReadFile(dir + "/schema.sql")
		if err != nil {
			t.Fatal(err)
		}
		mapping, err := os.ReadFile(dir + "/mapping.yaml")
		if err != nil {
			t.Fatal(err)
		}
		db := pg.NewDatabase(t)
		db.Exec(t, string(schema))
		db.Exec(t, `INSERT INTO customers (email, full_name, phone, tags, remarks, created_at, updated_at)
				VALUES ('ada@example.org', 'Ada', '+44 1', (SELECT array_agg(md5(i::text)) || ARRAY[NULL] FROM generate_series(1, 1000) i), 'private', '2026-03-29 02:30:00', now());
			INSERT INTO products (sku, title, unit_price, attributes, created_at, updated_at)
				VALUES ('TEA-1', 'Tea', 12.50, '{"weight_g": 500}', '2020-01-01', now());`)
		src := strings.Replace(string(mapping), "\nschemas: schemas\n", "\n", 1)
		draftCheckAndMap(t, db, src, []string{"customers", "products", "orders", "order_lines", "payments", `"ShipmentTracking"`}, "CustomerUpdated", func() {
			db.Exec(t, `BEGIN;
				INSERT INTO orders (customer_id, status, total, shipping_address, notes, "createdBy", ordered_at, updated_at)
					VALUES (1, 'N', 25.00, '{"city": "Berlin"}', repeat('n', 20000), 'app', '2026-10-25 02:30:00', now());
				INSERT INTO order_lines VALUES (1, 1, 1, 2, 12.50, 0);
				COMMIT`)
			db.Exec(t, `INSERT INTO payments (order_id, method, amount, reference, paid_at) VALUES (1, 'paypal', 25.00, NULL, now())`)
			db.Exec(t, `UPDATE orders SET status = 'C', updated_at = now() WHERE order_id = 1`)
			db.Exec(t, `UPDATE order_lines SET quantity = 3 WHERE order_id = 1 AND line_no = 1`)
			db.Exec(t, `INSERT INTO "ShipmentTracking" (order_id, carrier, "trackingNo", shipped_at) VALUES (1, 'DHL', 'J1', '2026-11-23 10:00')`)
			db.Exec(t, `UPDATE orders SET status = 'S', updated_at = now() WHERE order_id = 1`)
			db.Exec(t, `DELETE FROM order_lines WHERE order_id = 1`)
			// tags (1000 hashes, stored out of line) stay as they were: the
			// event leaves them out.
			db.Exec(t, `UPDATE customers SET full_name = 'Ada King', updated_at = now() WHERE customer_id = 1`)
		})
	})
	t.Run("legacy", func(t *testing.T) {
		db := pg.NewDatabase(t)
		db.Exec(t, legacyDraftSQL)
		db.Exec(t, `INSERT INTO "Legacy"."Invoice" VALUES (1, 7, 'open', '{draft,NULL}', '{a,b}', '{"city": "Kiel"}', NULL, 10.00, '2026-03-29 02:30:00')`)
		draftCheckAndMap(t, db, legacyDraftMapping, []string{`"Legacy"."Invoice"`}, "InvoiceChanged", func() {
			db.Exec(t, `INSERT INTO "Legacy"."Invoice" VALUES (2, 7, 'draft', NULL, '{}', '{"n": [1, 2]}', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 1000) i), 5.50, '2026-10-25 02:30:00')`)
			// The TOASTed Note is unchanged: the event leaves it out.
			db.Exec(t, `UPDATE "Legacy"."Invoice" SET "State" = 'paid', "History" = '{draft,open}' WHERE "InvoiceNo" = 2`)
		})
	})
}

// draftCheckAndMap writes mapping src into a temporary directory, drafts its
// schemas from db, names them in the mapping, runs check, then captures
// tables, runs workload and maps every change with validation on until an
// event of type last: no dead letter is allowed.
func draftCheckAndMap(t *testing.T, db *testenv.DB, src string, tables []string, last string, workload func()) {
	t.Helper()
	dir := t.TempDir()
	mappingFile := filepath.Join(dir, "mapping.yaml")
	if err := os.WriteFile(mappingFile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CDCFLOW_SOURCE_DSN", db.DSN)
	t.Setenv("CDCFLOW_MAPPING_FILE", mappingFile)
	t.Setenv("CDCFLOW_SOURCE_TIMEZONE", "Europe/Berlin")
	cdcflow := func(args ...string) (int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}

	// Without schemas, run refuses to validate, and check agrees.
	if code, out := cdcflow("check", "--offline"); code != 1 || !strings.Contains(out, "FAIL  mapping") {
		t.Fatalf("check of a mapping without schemas: exit %d; want 1 and FAIL mapping\n%s", code, out)
	}
	code, out := cdcflow("schemas", "draft")
	if code != 0 {
		t.Fatalf("schemas draft: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "wrote  "+filepath.Join(dir, "schemas")) || !strings.Contains(out, "\n  schemas: schemas\n") {
		t.Fatalf("schemas draft output lacks the files or the line to add:\n%s", out)
	}
	t.Logf("schemas draft:\n%s", out)
	// A second run keeps every file.
	if code, again := cdcflow("schemas", "draft"); code != 0 || strings.Contains(again, "wrote") || !strings.Contains(again, "kept") {
		t.Fatalf("second schemas draft: exit %d; want every file kept\n%s", code, again)
	}
	if err := os.WriteFile(mappingFile, []byte(src+"schemas: schemas\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := cdcflow("check"); code != 0 {
		t.Fatalf("check with the drafted schemas: exit %d\n%s", code, out)
	}

	m, err := config.LoadMappingFile(mappingFile, nil, "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := pipeline.NewMapper(m, pipeline.MapperOptions{Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		events []pipeline.Event
	)
	emit := func(e pipeline.Event) { events = append(events, e) }
	handle := func(_ context.Context, msgs []capture.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, msg := range msgs {
			var err error
			switch x := msg.(type) {
			case *capture.Connected:
				mp.Connected(x)
			case *capture.Begin:
				mp.Begin(x)
			case *capture.Change:
				err = mp.Change(x, emit)
			case *capture.Commit:
				err = mp.Commit(x, emit)
			case *capture.Marker:
				mp.Marker(x, emit)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	slot := fmt.Sprintf("draft_%d", time.Now().UnixNano()%1e9)
	r, err := replication.New(replication.Config{
		DSN: db.DSN, Slot: slot, Publication: slot, Tables: tables,
		HeartbeatInterval: 200 * time.Millisecond, StatusInterval: time.Second,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = r.Run(ctx, handle); close(done) }()
	defer func() { cancel(); <-done }()
	await := func(what, typ string) {
		t.Helper()
		testenv.Await(t, 60*time.Second, what, func() (bool, error) {
			select {
			case <-done:
				t.Fatalf("capture stopped: %v", runErr)
			default:
			}
			mu.Lock()
			defer mu.Unlock()
			for _, e := range events {
				if e.Type == typ || e.DeadLetter {
					return true, nil // a dead letter fails the test below
				}
			}
			return false, nil
		})
	}
	await("the snapshot", pipeline.SnapshotEndType)
	workload()
	await("the last event", last)

	mu.Lock()
	defer mu.Unlock()
	types := map[string]int{}
	unchanged := false
	for _, e := range events {
		if e.DeadLetter {
			t.Errorf("dead letter (the drafted schema refused an event?): %s", e.Data)
		}
		types[e.Type]++
		unchanged = unchanged || strings.Contains(string(e.Data), `"unchanged":[`)
	}
	if !unchanged {
		t.Errorf("no event left an unchanged TOASTed field out: the optional fields were not tested")
	}
	t.Logf("events validated against the drafts: %v", types)
}

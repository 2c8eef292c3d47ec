package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// errDone stops the Reader once every change of the workload was mapped.
var errDone = errors.New("every change mapped")

// TestIntegrationWideWorkloadMaps writes a small wide-row workload, with and
// without REPLICA IDENTITY FULL on the hot table, captures it from a slot
// created before the load, and maps it with the wide mapping (validation
// on): every change maps, nothing is dead-lettered, the lines written in
// their document's transaction are gathered into its DocumentIssued, the
// event counts match what the generator wrote, and the TOASTed memos and the
// uncaptured journal are really there.
func TestIntegrationWideWorkloadMaps(t *testing.T) {
	mapping, err := config.LoadMappingFile("wide/mapping.yaml", nil, loadgen.ShopZone)
	if err != nil {
		t.Fatal(err)
	}
	for _, full := range []bool{true, false} {
		t.Run(fmt.Sprintf("replica_full=%t", full), func(t *testing.T) {
			db := testenv.Postgres(t).NewDatabase(t)
			conn := db.Conn(t)
			if err := loadgen.InitWide(t.Context(), conn, full); err != nil {
				t.Fatal(err)
			}
			slot := "wide_" + fmt.Sprint(full)
			db.Exec(t, `CREATE PUBLICATION wide FOR TABLE "Document", document_line`)
			db.Exec(t, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, slot)

			const children = 3
			cfg := loadgen.WideConfig{DSN: db.DSN, Seed: uint64(testenv.Seed(t)), Count: 150, RowWidth: 1024, ToastShare: 0.3, Children: children}
			gen, err := loadgen.NewWide(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			// Two runs: the second continues the documents of the first.
			for range 2 {
				if err := gen.Run(ctx); err != nil {
					t.Fatal(err)
				}
			}
			st := gen.Stats()
			if st.Transactions != 2*cfg.Count {
				t.Fatalf("%d transactions; want %d", st.Transactions, 2*cfg.Count)
			}
			docs, lines := st.Tables["Document"], st.Tables["document_line"]
			if docs.Inserted == 0 || docs.Updated == 0 || docs.Deleted == 0 || lines.Updated == 0 || lines.Deleted == 0 {
				t.Fatalf("the workload missed a kind of change: %+v", st.Tables)
			}
			if lines.Inserted != children*docs.Inserted {
				t.Fatalf("%d lines for %d documents; want %d each", lines.Inserted, docs.Inserted, children)
			}
			if n := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM journal"); n < st.Transactions || n != st.Tables["journal"].Inserted {
				t.Fatalf("journal holds %d rows for %d transactions (stats %d)", n, st.Transactions, st.Tables["journal"].Inserted)
			}
			if n := testenv.QueryValue[int64](t, db, `SELECT count(*) FROM "Document" WHERE length(memo) > 8192`); n == 0 {
				t.Fatal("no document carries a memo over 8 KB")
			}
			if w := testenv.QueryValue[float64](t, db, `SELECT avg(length(filler))::float8 FROM "Document"`); w < float64(cfg.RowWidth)/2 || w > float64(cfg.RowWidth) {
				t.Fatalf("filler is %.0f bytes on average for a row width of %d", w, cfg.RowWidth)
			}
			want := docs.Inserted + docs.Updated + docs.Deleted + lines.Inserted + lines.Updated + lines.Deleted

			mp, err := pipeline.NewMapper(mapping, pipeline.MapperOptions{Validate: true})
			if err != nil {
				t.Fatal(err)
			}
			rd, err := replication.New(replication.Config{DSN: db.DSN, Slot: slot, Publication: "wide",
				Tables: []string{`public."Document"`, "public.document_line"}, SnapshotMode: replication.SnapshotNever}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			types := map[string]int64{}
			var changes, olds, unchangedMemos int64
			var issued, all []pipeline.Event
			emit := func(e pipeline.Event) {
				if e.DeadLetter {
					t.Errorf("dead letter: %s", e.Data)
					return
				}
				all = append(all, e)
				types[e.Type]++
				if e.Type == "DocumentIssued" {
					issued = append(issued, e)
				}
			}
			err = rd.Run(ctx, func(_ context.Context, msgs []capture.Message) error {
				for _, m := range msgs {
					var err error
					switch m := m.(type) {
					case *capture.Connected:
						mp.Connected(m)
					case *capture.Begin:
						mp.Begin(m)
					case *capture.Change:
						changes++
						if m.Old != nil && m.Op == capture.OpUpdate && m.Relation.Table == "Document" {
							olds++
						}
						if i := m.Relation.ColumnIndex("memo"); m.Op == capture.OpUpdate && i >= 0 && m.New[i].Kind == capture.KindUnchangedTOAST {
							unchangedMemos++
						}
						err = mp.Change(m, emit)
					case *capture.Commit:
						err = mp.Commit(m, emit)
						if err == nil && changes >= want {
							return errDone
						}
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
			if !errors.Is(err, errDone) {
				t.Fatalf("capture: %v", err)
			}
			if changes != want {
				t.Fatalf("captured %d changes; the workload wrote %d", changes, want)
			}
			for typ, n := range map[string]int64{
				"DocumentIssued": docs.Inserted, "DocumentRevised": docs.Updated, "DocumentDeleted": docs.Deleted,
				"DocumentLineAdded": 0, "DocumentLineChanged": lines.Updated, "DocumentLineRemoved": lines.Deleted,
			} {
				if types[typ] != n {
					t.Errorf("%d %s events; want %d (all: %v)", types[typ], typ, n, types)
				}
			}
			for _, e := range issued {
				var data struct {
					Lines []json.RawMessage `json:"lines"`
				}
				if err := json.Unmarshal(e.Data, &data); err != nil || len(data.Lines) != children {
					t.Fatalf("DocumentIssued %s has %d lines (%v); want %d: %s", e.AggregateID, len(data.Lines), err, children, e.Data)
				}
			}
			wantOld := int64(0) // the key never changes
			if full {
				wantOld = docs.Updated
			}
			if olds != wantOld {
				t.Errorf("replica full %t: %d updates of Document carried an old row; want %d", full, olds, wantOld)
			}
			// Under REPLICA IDENTITY FULL PostgreSQL 15 sends the memo in
			// full in the old and the new row; otherwise as unchanged.
			if !full && unchangedMemos == 0 {
				t.Error("no update sent the TOASTed memo as an unchanged value")
			}

			// The same WAL again (nothing was confirmed), decoded as cdcflow
			// run decodes it: only the columns the rules read. The events
			// must be the same.
			deferred := mapDeferred(ctx, t, mapping, replication.Config{DSN: db.DSN, Slot: slot, Publication: "wide",
				Tables: []string{`public."Document"`, "public.document_line"}, SnapshotMode: replication.SnapshotNever,
				DeferDecoding: true}, want)
			if len(deferred) != len(all) {
				t.Fatalf("deferred decoding: %d events; eager %d", len(deferred), len(all))
			}
			for i := range all {
				if !reflect.DeepEqual(deferred[i], all[i]) {
					t.Fatalf("event %d with deferred decoding:\n%+v\neager:\n%+v", i, deferred[i], all[i])
				}
			}
		})
	}
}

// mapDeferred captures want changes from the slot with cfg and maps them,
// returning every event.
func mapDeferred(ctx context.Context, t *testing.T, mapping *pipeline.Mapping, cfg replication.Config, want int64) []pipeline.Event {
	t.Helper()
	mp, err := pipeline.NewMapper(mapping, pipeline.MapperOptions{Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := replication.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var events []pipeline.Event
	var changes, encoded int64
	emit := func(e pipeline.Event) { events = append(events, e) }
	err = rd.Run(ctx, func(_ context.Context, msgs []capture.Message) error {
		for _, m := range msgs {
			var err error
			switch m := m.(type) {
			case *capture.Connected:
				mp.Connected(m)
			case *capture.Begin:
				mp.Begin(m)
			case *capture.Change:
				changes++
				for _, v := range m.New {
					if v.Kind == capture.KindEncoded {
						encoded++
					}
				}
				err = mp.Change(m, emit)
			case *capture.Commit:
				err = mp.Commit(m, emit)
				if err == nil && changes >= want {
					return errDone
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("capture with deferred decoding: %v", err)
	}
	if encoded == 0 {
		t.Fatal("capture with deferred decoding handed on no encoded value")
	}
	return events
}

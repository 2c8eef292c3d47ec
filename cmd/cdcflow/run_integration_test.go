package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// statusOf is the legacy status code each order event leaves the order in.
var statusOf = map[string]string{
	"OrderRequested": "N", "OrderPromised": "C", "OrderDeclined": "D", "OrderDeclared": "S",
	"OrderAccepted": "V", "OrderRejected": "R", "OrderRevoked": "X",
}

var stateCode = map[string]string{
	"requested": "N", "promised": "C", "declined": "D", "declared": "S",
	"accepted": "V", "rejected": "R", "revoked": "X",
}

// TestIntegrationRunOrders runs `cdcflow run` as a subprocess on the
// reference order database: rows that existed before the slot come through
// the snapshot, later ones through streaming, and folding the order topic's
// events must give every order's status in the database, with each
// aggregate's events in position order.
func TestIntegrationRunOrders(t *testing.T) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	if err := loadgen.Init(ctx, db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	seed := testenv.Seed(t)
	load := func(count int64, seed uint64) {
		t.Helper()
		g, err := loadgen.New(loadgen.Config{DSN: db.DSN, Seed: seed, Count: count})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Run(ctx); err != nil {
			t.Fatalf("load: %v", err)
		}
	}
	load(150, uint64(seed)) // taken by the snapshot

	broker := testenv.Kafka(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	slot := fmt.Sprintf("run_%d", time.Now().UnixNano()%1e9)
	cmd := exec.Command(testenv.Cdcflow(t), "run", "--progress=false")
	cmd.Env = append(os.Environ(),
		"CDCFLOW_SOURCE_DSN="+db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE="+loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE="+filepath.Join(root, "deploy/examples/orders/mapping.yaml"),
		"CDCFLOW_KAFKA_BROKERS="+strings.Join(broker.Addrs(), ","),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_CAPTURE_SLOT="+slot,
		"CDCFLOW_CAPTURE_PUBLICATION="+slot,
		"CDCFLOW_DATA_DIR="+t.TempDir(),
	)
	logPath := filepath.Join(t.TempDir(), "run.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("cdcflow run exited with %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("cdcflow run did not stop within 30s of SIGINT")
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("cdcflow run output:\n%s", out)
		}
	})

	load(300, uint64(seed)+1) // streamed

	want := map[string]string{}
	rows, err := db.Conn(t).Query(ctx, `SELECT order_id::text, status FROM orders`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		want[id] = status
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	cl := broker.Client(t, kgo.ConsumeTopics("shop.order"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]string{}
	last := map[string]pipeline.Position{}
	var events int
	testenv.Await(t, 90*time.Second, "order statuses folded from shop.order to match the database", func() (bool, error) {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			return false, fmt.Errorf("cdcflow run exited early (%v):\n%s", err, out)
		default:
		}
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		fs := cl.PollFetches(fctx)
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded {
				return false, e.Err
			}
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := pipeline.DecodeRecord(recordOf(r))
			if err != nil {
				ferr = fmt.Errorf("decode record at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			events++
			if ev.Control != pipeline.NotControl {
				return
			}
			if p, ok := last[ev.AggregateID]; ok && ev.Position.Less(p) {
				ferr = fmt.Errorf("order %s: event %s at %s after %s", ev.AggregateID, ev.Type, ev.Position, p)
				return
			}
			last[ev.AggregateID] = ev.Position
			if s, ok := statusOf[ev.Type]; ok {
				got[ev.AggregateID] = s
			}
			if ev.Type == "OrderStateObserved" {
				var d struct{ Status string }
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					ferr = err
					return
				}
				got[ev.AggregateID] = stateCode[d.Status]
			}
		})
		if ferr != nil {
			return false, ferr
		}
		return equalMaps(got, want), nil
	})
	t.Logf("%d orders, %d records on shop.order", len(want), events)
}

func recordOf(r *kgo.Record) pipeline.Record {
	rec := pipeline.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		rec.Headers = append(rec.Headers, pipeline.Header{Key: h.Key, Value: h.Value})
	}
	return rec
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

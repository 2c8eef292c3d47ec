package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestIntegrationServeReadYourWrites: an application inserts an order,
// reads pg_current_wal_lsn() after COMMIT, and reads the order through the
// API with min_lsn: the answer holds the order every time (100 times).
// With the materializer paused the same read answers 504 with the lag,
// never 200 without the row. On an idle database the wait is recorded as a
// figure (the goal: p99 at most kafka.progress_interval + 100 ms).
func TestIntegrationServeReadYourWrites(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	ctx := t.Context()
	if err := loadgen.Init(ctx, db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rsrv := testenv.Redis(t)
	rdb, prefix := rsrv.Client(t), rsrv.Prefix(t)
	slot := fmt.Sprintf("ryw_%d", time.Now().UnixNano()%1e9)
	env := []string{
		"CDCFLOW_SOURCE_DSN=" + db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + filepath.Join(root, "deploy/examples/orders/mapping.yaml"),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_KAFKA_BROKERS=" + strings.Join(testenv.Kafka(t).Addrs(), ","),
		"CDCFLOW_CAPTURE_SLOT=" + slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + slot,
		// WAL written without an event (a running-transactions record, a
		// checkpoint, a table outside the publication) moves
		// pg_current_wal_lsn() past every event: the server's keepalives
		// say decoding reached it, and progress records carry that
		// (docs/query.md). No heartbeat, so nothing else could prove it.
		"CDCFLOW_CAPTURE_HEARTBEAT_INTERVAL=-1s",
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
		"CDCFLOW_VIEWS_FILE=" + filepath.Join(root, "deploy/examples/orders/views.yaml"),
		"CDCFLOW_VIEWS_REDIS_ADDRS=" + rsrv.Addr(),
		"CDCFLOW_VIEWS_PREFIX=" + prefix,
	}
	db.Exec(t, `INSERT INTO customers (email, full_name, created_at, updated_at) VALUES ('ryw@example.com', 'Read Your-Writes', now(), now())`)
	startCdcflowCmd(t, env, "run", "--progress=false")
	mat, _ := startCdcflowCmd(t, env, "materialize")
	base := startServe(t, env, rdb, prefix)
	conn := db.Conn(t)

	// insert commits one order and returns its id and pg_current_wal_lsn()
	// read after the commit returned, as an application would.
	insert := func() (id, lsn string) {
		t.Helper()
		if err := conn.QueryRow(ctx, `INSERT INTO orders (customer_id, total, shipping_address, "createdBy", ordered_at, updated_at)
			SELECT customer_id, 12.34, '{}', 'ryw', now(), now() FROM customers ORDER BY customer_id LIMIT 1
			RETURNING order_id::text`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		return id, lsn
	}
	read := func(id, lsn, wait string) (int, map[string]any) {
		t.Helper()
		return apiGet(t, base, fmt.Sprintf("/v1/views/order/entities/%s?min_lsn=%s&wait=%s", id, lsn, wait))
	}
	waited := func(body map[string]any) time.Duration {
		fr, _ := body["freshness"].(map[string]any)
		s, _ := fr["waited_seconds"].(float64)
		return time.Duration(s * float64(time.Second))
	}

	var waits []time.Duration
	for i := range 100 {
		id, lsn := insert()
		code, body := read(id, lsn, "5s")
		if code != http.StatusOK {
			t.Fatalf("read %d of order %s at %s: %d %v; want 200 with the order", i, id, lsn, code, body)
		}
		if _, ok := body["fields"].(map[string]any)["status"]; !ok {
			t.Fatalf("read %d of order %s: %v has no status", i, id, body)
		}
		waits = append(waits, waited(body))
	}
	t.Logf("figure: read-your-writes wait after an insert, 100 reads: %s", quantiles(waits))

	// An idle database: the position moves only by progress records.
	var idle []time.Duration
	id, _ := insert()
	for range 20 {
		var lsn string
		if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		code, body := read(id, lsn, "5s")
		if code != http.StatusOK {
			t.Fatalf("idle read at %s: %d %v; want 200", lsn, code, body)
		}
		idle = append(idle, waited(body))
	}
	t.Logf("figure: read-your-writes wait on an idle database, 20 reads: %s (goal p99 <= progress_interval + 100ms)", quantiles(idle))

	// WAL without events: a write to a table outside the publication
	// (PostgreSQL 15 sends nothing for it) and a logical message of
	// another prefix. Only a keepalive's WAL end proves the position
	// after them (heartbeats are off): every read answers.
	db.Exec(t, `CREATE TABLE ryw_noise (n int)`)
	var noise []time.Duration
	for i := range 10 {
		if i%2 == 0 {
			db.Exec(t, `INSERT INTO ryw_noise VALUES (1)`)
		} else {
			db.Exec(t, `SELECT pg_logical_emit_message(true, 'ryw-other', 'x')`)
		}
		var lsn string
		if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		code, body := read(id, lsn, "5s")
		if code != http.StatusOK {
			t.Fatalf("read %d after WAL without events, at %s: %d %v; want 200", i, lsn, code, body)
		}
		noise = append(noise, waited(body))
	}
	t.Logf("figure: read-your-writes wait after WAL without events, 10 reads: %s", quantiles(noise))

	// The materializer paused: 504 with the lag, never 200 without the row.
	if err := mat.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = mat.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	id, lsn := insert()
	code, body := read(id, lsn, "1500ms")
	e, _ := body["error"].(map[string]any)
	if code != http.StatusGatewayTimeout || e["code"] != "not_yet_applied" || e["behind_bytes"] == nil || len(e["behind"].([]any)) == 0 {
		t.Fatalf("read with the materializer paused: %d %v; want 504 with the lag", code, body)
	}
	t.Logf("504 while paused: %s", e["message"])
	resume()
	code, body = read(id, lsn, "5s")
	if code != http.StatusOK || body["id"] != id {
		t.Fatalf("read after the materializer resumed: %d %v; want 200 with order %s", code, body, id)
	}
}

// quantiles formats p50, p99 and max of ds.
func quantiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("p50 %s, p99 %s, max %s", q(0.50).Round(time.Millisecond), q(0.99).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

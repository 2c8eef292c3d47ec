package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// startCdcflow runs the cdcflow binary with args and env until the test ends
// (SIGINT, then kill after 30s), logging its output if the test failed.
func startCdcflow(t *testing.T, env []string, args ...string) <-chan error {
	t.Helper()
	cmd := exec.Command(testenv.Cdcflow(t), args...)
	cmd.Env = append(os.Environ(), env...)
	logPath := filepath.Join(t.TempDir(), args[0]+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("cdcflow %s did not stop within 30s of SIGINT", args[0])
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("cdcflow %s output:\n%s", args[0], out)
		}
	})
	return exited
}

// TestIntegrationMaterializeOrders runs `cdcflow run` and `cdcflow
// materialize` on the reference order database (snapshot, then streaming)
// and checks the reference views against SQL over the source tables: every
// order's status, and the counts per status.
func TestIntegrationMaterializeOrders(t *testing.T) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	if err := loadgen.Init(ctx, db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL`)
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
	load(100, uint64(seed))

	broker := testenv.Kafka(t)
	rsrv := testenv.Redis(t)
	rdb := rsrv.Client(t)
	prefix := rsrv.Prefix(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	slot := fmt.Sprintf("mat_%d", time.Now().UnixNano()%1e9)
	env := []string{
		"CDCFLOW_SOURCE_DSN=" + db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + filepath.Join(root, "deploy/examples/orders/mapping.yaml"),
		"CDCFLOW_KAFKA_BROKERS=" + strings.Join(broker.Addrs(), ","),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_CAPTURE_SLOT=" + slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + slot,
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
	}
	runExited := startCdcflow(t, env, "run", "--progress=false")
	matExited := startCdcflow(t, env, "materialize", "--views", filepath.Join(root, "deploy/examples/orders/views.yaml"),
		"--redis", rsrv.Addr(), "--prefix", prefix)
	load(200, uint64(seed)+1)

	src, err := os.ReadFile(filepath.Join(root, "deploy/examples/orders/views.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := redisview.NewReader(defs, rdb, prefix, 3)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for name, code := range stateCode {
		names[code] = name
	}
	var diff string
	match := func() (bool, error) {
		for name, ch := range map[string]<-chan error{"run": runExited, "materialize": matExited} {
			select {
			case err := <-ch:
				return false, fmt.Errorf("cdcflow %s exited early: %v", name, err)
			default:
			}
		}
		want := map[string]string{}
		rows, err := db.Conn(t).Query(ctx, `SELECT order_id::text, status FROM orders`)
		if err != nil {
			return false, err
		}
		counts := map[string]int64{}
		for rows.Next() {
			var id, status string
			if err := rows.Scan(&id, &status); err != nil {
				return false, err
			}
			want[id] = names[status]
			counts[names[status]]++
		}
		if err := rows.Err(); err != nil {
			return false, err
		}
		snap, err := reader.Current(ctx)
		if err != nil {
			return false, err
		}
		for id, status := range want {
			e, err := snap.Entity(ctx, "order", id)
			if err != nil {
				return false, err
			}
			if e["status"] != status {
				diff = fmt.Sprintf("order %s: status %q; want %q", id, e["status"], status)
				return false, nil
			}
		}
		groups, err := snap.Aggregate(ctx, "per_status")
		if err != nil {
			return false, err
		}
		for s, n := range counts {
			if groups[s].Count != n {
				diff = fmt.Sprintf("per_status[%s] = %d; want %d", s, groups[s].Count, n)
				return false, nil
			}
		}
		if len(groups) != len(counts) {
			diff = fmt.Sprintf("per_status has %d groups; want %d", len(groups), len(counts))
			return false, nil
		}
		return revenueMatches(t, db, snap, &diff)
	}
	testenv.Await(t, 120*time.Second, "views equal to the source tables", match)
	t.Logf("views match; last difference seen while catching up: %s", diff)
	if n := testenv.QueryValue[int64](t, db, `SELECT count(*) FROM orders WHERE status = 'V' AND currency = 'EUR'`); n == 0 {
		t.Fatal("no accepted EUR orders: the revenue view was not tested")
	}

	// A replay builds generation 2 while generation 1 serves, swaps it in,
	// and the running materializer follows it.
	replay := exec.CommandContext(ctx, testenv.Cdcflow(t), "replay", "--progress=false", "--grace=0",
		"--views", filepath.Join(root, "deploy/examples/orders/views.yaml"), "--redis", rsrv.Addr(), "--prefix", prefix)
	replay.Env = append(os.Environ(), env...)
	out, err := replay.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "generation 2 is live") {
		t.Fatalf("cdcflow replay = %v:\n%s", err, out)
	}
	load(50, uint64(seed)+2)
	testenv.Await(t, 120*time.Second, "generation 2 equal to the source tables", func() (bool, error) {
		snap, err := reader.Current(ctx)
		if err != nil || snap.Generation() != 2 {
			return false, err
		}
		return match()
	})
}

// revenueMatches compares the revenue_per_day view with SQL.
func revenueMatches(t *testing.T, db *testenv.DB, snap *redisview.Snapshot, diff *string) (bool, error) {
	rows, err := db.Conn(t).Query(t.Context(), `SELECT ordered_at::date::text, count(*), sum(total)::text FROM orders
		WHERE status = 'V' AND currency = 'EUR' GROUP BY 1`)
	if err != nil {
		return false, err
	}
	want := map[string]string{}
	for rows.Next() {
		var day, sum string
		var n int64
		if err := rows.Scan(&day, &n, &sum); err != nil {
			return false, err
		}
		want[day] = fmt.Sprintf("%d %s", n, sum)
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	groups, err := snap.Aggregate(t.Context(), "revenue_per_day")
	if err != nil {
		return false, err
	}
	got := map[string]string{}
	for day, g := range groups {
		got[day] = fmt.Sprintf("%d %s", g.Count, g.Sums["revenue"])
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		*diff = fmt.Sprintf("revenue_per_day = %v; want %v", got, want)
		return false, nil
	}
	return true, nil
}

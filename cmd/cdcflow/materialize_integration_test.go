package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// startCdcflow runs the cdcflow binary with args and env until the test ends
// (SIGINT, then kill after 30s), logging its output if the test failed.
func startCdcflow(t *testing.T, env []string, args ...string) <-chan error {
	t.Helper()
	_, exited := startCdcflowCmd(t, env, args...)
	return exited
}

func startCdcflowCmd(t *testing.T, env []string, args ...string) (*exec.Cmd, <-chan error) {
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
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); logFile.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("cdcflow %s did not stop within 30s of SIGINT", args[0])
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("cdcflow %s output:\n%s", args[0], out)
		}
	})
	return cmd, exited
}

// matSetup is the reference order database with `cdcflow run` publishing it
// to a kfake broker, and a Redis for the views.
type matSetup struct {
	t       *testing.T
	db      *testenv.DB
	conn    *pgx.Conn // for the checks: one connection, reused by every poll
	env     []string
	views   string // path of the reference views
	redis   string // address
	prefix  string
	reader  *redisview.Reader
	broker  *testenv.KafkaServer
	rdb     *redis.Client
	adm     *kadm.Client // of broker, made on first use
	seed    int64
	running []<-chan error // processes that must not exit
}

func newMatSetup(t *testing.T) *matSetup {
	t.Helper()
	ctx := t.Context()
	s := &matSetup{t: t, db: testenv.Postgres(t).NewDatabase(t), seed: testenv.Seed(t)}
	if err := loadgen.Init(ctx, s.db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	s.db.Exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL`)
	s.conn = s.db.Conn(t)
	s.load(100, 0) // taken by the snapshot
	broker := testenv.Kafka(t)
	rsrv := testenv.Redis(t)
	s.broker, s.rdb = broker, rsrv.Client(t)
	s.redis, s.prefix = rsrv.Addr(), rsrv.Prefix(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	s.views = filepath.Join(root, "deploy/examples/orders/views.yaml")
	slot := fmt.Sprintf("mat_%d", time.Now().UnixNano()%1e9)
	s.env = []string{
		"CDCFLOW_SOURCE_DSN=" + s.db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + filepath.Join(root, "deploy/examples/orders/mapping.yaml"),
		"CDCFLOW_KAFKA_BROKERS=" + strings.Join(broker.Addrs(), ","),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_CAPTURE_SLOT=" + slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + slot,
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
	}
	s.running = append(s.running, startCdcflow(t, s.env, "run", "--progress=false"))
	src, err := os.ReadFile(s.views)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		t.Fatal(err)
	}
	if s.reader, err = redisview.NewReader(defs, rsrv.Client(t), s.prefix, 3); err != nil {
		t.Fatal(err)
	}
	return s
}

// load runs count seeded transactions of the load generator.
func (s *matSetup) load(count int64, n uint64) {
	s.t.Helper()
	g, err := loadgen.New(loadgen.Config{DSN: s.db.DSN, Seed: uint64(s.seed) + n, Count: count})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := g.Run(s.t.Context()); err != nil {
		s.t.Fatalf("load: %v", err)
	}
}

func (s *matSetup) materialize() (*exec.Cmd, <-chan error) {
	s.t.Helper()
	return startCdcflowCmd(s.t, s.env, "materialize", "--views", s.views, "--redis", s.redis, "--prefix", s.prefix)
}

// match compares the views of the current generation (which must be at
// least minGen) with SQL over the source tables: every order's status, the
// counts per status and the revenue per day. diff says what differed.
func (s *matSetup) match(minGen int64, diff *string) (bool, error) {
	t, ctx := s.t, s.t.Context()
	for _, ch := range s.running {
		select {
		case err := <-ch:
			return false, fmt.Errorf("a cdcflow process exited early: %v", err)
		default:
		}
	}
	names := map[string]string{}
	for name, code := range stateCode {
		names[code] = name
	}
	want := map[string]string{}
	rows, err := s.conn.Query(ctx, `SELECT order_id::text, status FROM orders`)
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
	snap, err := s.reader.Current(ctx)
	if err != nil || snap.Generation() < minGen {
		return false, err
	}
	for id, status := range want {
		e, err := snap.Entity(ctx, "order", id)
		if err != nil {
			return false, err
		}
		if e["status"] != status {
			*diff = fmt.Sprintf("order %s: status %q; want %q", id, e["status"], status)
			return false, nil
		}
	}
	groups, err := snap.Aggregate(ctx, "per_status")
	if err != nil {
		return false, err
	}
	for st, n := range counts {
		if groups[st].Count != n {
			*diff = fmt.Sprintf("per_status[%s] = %d; want %d", st, groups[st].Count, n)
			return false, nil
		}
	}
	if len(groups) != len(counts) {
		*diff = fmt.Sprintf("per_status has %d groups; want %d", len(groups), len(counts))
		return false, nil
	}
	return revenueMatches(t, s.conn, snap, diff)
}

// TestIntegrationMaterializeOrders runs `cdcflow run` and `cdcflow
// materialize` on the reference order database (snapshot, then streaming)
// and checks the reference views against SQL over the source tables, then
// replays them into generation 2, which the running materializer follows.
func TestIntegrationMaterializeOrders(t *testing.T) {
	s := newMatSetup(t)
	_, matExited := s.materialize()
	s.running = append(s.running, matExited)
	s.load(200, 1)
	var diff string
	testenv.Await(t, 120*time.Second, "views equal to the source tables", func() (bool, error) { return s.match(1, &diff) })
	t.Logf("views match; last difference seen while catching up: %s", diff)
	if n := testenv.QueryValue[int64](t, s.db, `SELECT count(*) FROM orders WHERE status = 'V' AND currency = 'EUR'`); n == 0 {
		t.Fatal("no accepted EUR orders: the revenue view was not tested")
	}

	// A truncate clears the order views; a column added to orders changes
	// nothing the views use; the workload goes on.
	s.db.Exec(t, `TRUNCATE orders, order_lines, payments, "ShipmentTracking"`)
	s.db.Exec(t, `ALTER TABLE orders ADD COLUMN gift_note text`)
	s.load(150, 3)
	testenv.Await(t, 120*time.Second, "views equal to the source tables after a truncate and ALTER TABLE", func() (bool, error) { return s.match(1, &diff) })
	snap, err := s.reader.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := testenv.QueryValue[int64](t, s.db, `SELECT min(order_id) FROM orders`); n > 1 {
		// Orders from before the truncate must be gone from the views.
		if e, err := snap.Entity(t.Context(), "order", "1"); err != nil || e != nil {
			t.Errorf("order 1 after the truncate = %v, %v; want no entity", e, err)
		}
	}

	replay := exec.CommandContext(t.Context(), testenv.Cdcflow(t), "replay", "--progress=false", "--grace=0",
		"--views", s.views, "--redis", s.redis, "--prefix", s.prefix)
	replay.Env = append(os.Environ(), s.env...)
	out, err := replay.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "generation 2 is live") {
		t.Fatalf("cdcflow replay = %v:\n%s", err, out)
	}
	s.load(50, 2)
	testenv.Await(t, 120*time.Second, "generation 2 equal to the source tables", func() (bool, error) { return s.match(2, &diff) })
}

// TestIntegrationMaterializeKilled runs two materializers sharing the
// partitions, kills one with SIGKILL at a seeded random moment while the
// workload runs, restarts it, and checks the views converge to the source.
func TestIntegrationMaterializeKilled(t *testing.T) {
	s := newMatSetup(t)
	a, _ := s.materialize()
	_, bExited := s.materialize()
	s.running = append(s.running, bExited)
	rng := rand.New(rand.NewPCG(uint64(s.seed), 3))
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		g, err := loadgen.New(loadgen.Config{DSN: s.db.DSN, Seed: uint64(s.seed) + 1, Count: 1500})
		if err != nil {
			t.Error(err)
			return
		}
		if err := g.Run(t.Context()); err != nil {
			t.Errorf("load: %v", err)
		}
	}()
	// Kill at a random moment once the killed instance is applying: its
	// partitions' stored offsets have started to move.
	testenv.Await(t, 60*time.Second, "the first materializer applying", func() (bool, error) {
		snap, err := s.reader.Current(t.Context())
		if err != nil {
			return false, nil
		}
		groups, err := snap.Aggregate(t.Context(), "per_status")
		return len(groups) > 0, err
	})
	time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond) // the random moment
	if err := a.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-loaded:
		t.Log("the workload ended before the kill: the kill tested only the restart")
	default:
		t.Logf("killed materializer %d during the workload", a.Process.Pid)
	}
	<-loaded
	_, cExited := s.materialize()
	s.running = append(s.running, cExited)
	var diff string
	// The survivors wait for the killed member's session to time out
	// (views.session_timeout, 10s) before the group rebalances its
	// partitions to them.
	testenv.Await(t, 180*time.Second, "views equal to the source tables after a kill -9", func() (bool, error) { return s.match(1, &diff) })
}

// revenueMatches compares the revenue_per_day view with SQL.
func revenueMatches(t *testing.T, conn *pgx.Conn, snap *redisview.Snapshot, diff *string) (bool, error) {
	rows, err := conn.Query(t.Context(), `SELECT ordered_at::date::text, count(*), sum(total)::text FROM orders
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

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/pipeline"
)

// runProc is a `cdcflow run` subprocess that a test may kill and start
// again with the same environment; its output goes to one log file across
// restarts. Its methods must run on the test's goroutine.
type runProc struct {
	t       *testing.T
	env     []string
	logPath string
	cmd     *exec.Cmd
	exited  chan error // receives the exit of cmd, once
	starts  int
}

// startRun starts `cdcflow run --progress=false` with env added to the
// test's environment and stops it (SIGINT, then SIGKILL after 30s) in
// t.Cleanup, printing its log if the test failed.
func startRun(t *testing.T, env ...string) *runProc {
	t.Helper()
	p := &runProc{t: t, env: env, logPath: filepath.Join(t.TempDir(), "run.log")}
	p.start()
	t.Cleanup(func() {
		if p.cmd != nil {
			if err := p.stop(); err != nil {
				t.Errorf("stop cdcflow run: %v", err)
			}
		}
		if t.Failed() {
			out, _ := os.ReadFile(p.logPath)
			t.Logf("cdcflow run output (%d starts, tail):\n%s", p.starts, tailLines(out, 60))
		}
	})
	return p
}

func (p *runProc) start() {
	p.t.Helper()
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(testenv.Cdcflow(p.t), "run", "--progress=false")
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p.cmd, p.exited = cmd, exited
	p.starts++
}

// kill sends SIGKILL and waits for the process to exit.
func (p *runProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill cdcflow run: %v", err)
	}
	<-p.exited
	p.cmd = nil
}

// stop sends SIGINT and waits (30s at most) for a clean exit.
func (p *runProc) stop() error {
	cmd := p.cmd
	p.cmd = nil
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.exited:
		if err != nil {
			return fmt.Errorf("exited with %v", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-p.exited
		return errors.New("did not stop within 30s of SIGINT")
	}
}

// running returns an error when the process has exited.
func (p *runProc) running() error {
	select {
	case err := <-p.exited:
		p.exited <- err
		out, _ := os.ReadFile(p.logPath)
		return fmt.Errorf("cdcflow run exited early (%v):\n%s", err, tailLines(out, 40))
	default:
		return nil
	}
}

// skippedRecords sums what the exactly-once restarts logged as skipped.
func (p *runProc) skippedRecords() int64 {
	p.t.Helper()
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "exactly-once: skipped records already in kafka") {
			continue
		}
		_, v, ok := strings.Cut(line, " skipped=")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, " ")
		k, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			p.t.Fatalf("log line %q: %v", line, err)
		}
		n += k
	}
	return n
}

// rss returns the process's resident set size in bytes.
func (p *runProc) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

func tailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// orderFold reads shop.order from its start and folds it, tolerating the
// duplicates at-least-once delivery allows: every order's status is the one
// of its status-bearing event with the greatest position, and each
// CloudEvents id must always come with the same position and type.
type orderFold struct {
	cl *kgo.Client

	records, duplicates int
	ids                 map[string]string // id -> position and type
	// repeats counts records whose (id, partition) came before: none may
	// under exactly-once delivery.
	repeats int
	copies  map[string]bool // id and partition
	// snapshotRows counts each order's OrderStateObserved by epoch.
	snapshotRows     map[uint64]map[string]int
	status           map[string]string // order id -> status code
	statusAt         map[string]pipeline.Position
	seen             map[[2]string]bool // (order id, event type)
	snapshotEnds     int
	snapshotRowsSeen int
	epochs           map[uint64]bool // of snapshot begin markers
	endedEpochs      map[uint64]bool // of snapshot end markers (one per partition each)
}

func newOrderFold(cl *kgo.Client) *orderFold {
	return &orderFold{
		cl:           cl,
		ids:          map[string]string{},
		copies:       map[string]bool{},
		status:       map[string]string{},
		snapshotRows: map[uint64]map[string]int{},
		statusAt:     map[string]pipeline.Position{},
		seen:         map[[2]string]bool{},
		epochs:       map[uint64]bool{},
		endedEpochs:  map[uint64]bool{},
	}
}

// poll reads what arrived within two seconds.
func (f *orderFold) poll(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fs := f.cl.PollFetches(fctx)
	for _, e := range fs.Errors() {
		if !errors.Is(e.Err, context.DeadlineExceeded) {
			return e.Err
		}
	}
	var ferr error
	fs.EachRecord(func(r *kgo.Record) {
		if ferr == nil {
			ferr = f.add(r)
		}
	})
	return ferr
}

func (f *orderFold) add(r *kgo.Record) error {
	ev, err := pipeline.DecodeRecord(recordOf(r))
	if err != nil {
		return fmt.Errorf("decode record at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if ev.Control == pipeline.ControlProgress {
		// Progress records repeat their position (and id) while the
		// source is idle: they are not part of the stream of events.
		return nil
	}
	f.records++
	if idPart := fmt.Sprintf("%s/%d", ev.ID, r.Partition); f.copies[idPart] {
		f.repeats++
	} else {
		f.copies[idPart] = true
	}
	what := fmt.Sprint(ev.Position) + " " + ev.Type
	if prev, ok := f.ids[ev.ID]; ok {
		if prev != what {
			return fmt.Errorf("id %s names two events: %s and %s", ev.ID, prev, what)
		}
		if ev.Control == pipeline.NotControl { // control records have one copy per partition
			f.duplicates++
		}
	}
	f.ids[ev.ID] = what
	switch {
	case ev.Control == pipeline.ControlSnapshotBegin:
		f.epochs[ev.Epoch] = true
		return nil
	case ev.Control == pipeline.ControlSnapshotEnd:
		f.snapshotEnds++
		f.endedEpochs[ev.Epoch] = true
		return nil
	case ev.Control != pipeline.NotControl:
		return nil
	}
	f.seen[[2]string{ev.AggregateID, ev.Type}] = true
	code, ok := statusOf[ev.Type]
	if ev.Type == "OrderStateObserved" {
		if f.snapshotRows[ev.Epoch] == nil {
			f.snapshotRows[ev.Epoch] = map[string]int{}
		}
		f.snapshotRows[ev.Epoch][ev.AggregateID]++
		f.snapshotRowsSeen++
		var d struct{ Status string }
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return fmt.Errorf("decode %s data: %w", ev.Type, err)
		}
		code, ok = stateCode[d.Status], true
	}
	if !ok {
		return nil
	}
	if at, had := f.statusAt[ev.AggregateID]; had && ev.Position.Less(at) {
		return nil // an older event again
	}
	f.status[ev.AggregateID], f.statusAt[ev.AggregateID] = code, ev.Position
	return nil
}

// latestEpochRepeats returns the latest snapshot epoch begun and how many
// orders have more than one OrderStateObserved in it.
func (f *orderFold) latestEpochRepeats() (epoch uint64, repeated int) {
	for e := range f.epochs {
		epoch = max(epoch, e)
	}
	for _, n := range f.snapshotRows[epoch] {
		if n > 1 {
			repeated++
		}
	}
	return epoch, repeated
}

// consumer returns a client reading topics from their start, closed in
// t.Cleanup. Unlike the harness's clients it does not create missing
// topics, which would race cdcflow's own creation with its partition count.
func consumer(t *testing.T, addrs []string, topics ...string) *kgo.Client {
	t.Helper()
	return consumerWith(t, addrs, topics)
}

// committedConsumer is consumer with read_committed isolation: it sees
// only the records of committed Kafka transactions.
func committedConsumer(t *testing.T, addrs []string, topics ...string) *kgo.Client {
	t.Helper()
	return consumerWith(t, addrs, topics, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
}

func consumerWith(t *testing.T, addrs, topics []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// drain polls until a poll brings nothing new.
func (f *orderFold) drain(ctx context.Context) error {
	for {
		n := f.records
		if err := f.poll(ctx); err != nil {
			return err
		}
		if f.records == n {
			return nil
		}
	}
}

// orderStatuses returns every order's status in the database.
func orderStatuses(t *testing.T, db *testenv.DB) map[string]string {
	t.Helper()
	want := map[string]string{}
	rows, err := db.Conn(t).Query(t.Context(), `SELECT order_id::text, status FROM orders`)
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
	return want
}

// installAudit records, from now on, each order insert and status change in
// fault_audit, a table outside the publication, as the event type the
// reference mapping must publish for it.
func installAudit(t *testing.T, db *testenv.DB) {
	t.Helper()
	db.Exec(t, `CREATE TABLE fault_audit (order_id bigint NOT NULL, event_type text NOT NULL)`)
	db.Exec(t, `CREATE FUNCTION fault_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO fault_audit VALUES (NEW.order_id, 'OrderRequested');
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    INSERT INTO fault_audit VALUES (NEW.order_id, CASE NEW.status
      WHEN 'C' THEN 'OrderPromised' WHEN 'D' THEN 'OrderDeclined' WHEN 'S' THEN 'OrderDeclared'
      WHEN 'V' THEN 'OrderAccepted' WHEN 'R' THEN 'OrderRejected' WHEN 'X' THEN 'OrderRevoked'
      ELSE 'unknown status ' || NEW.status END);
  END IF;
  RETURN NULL;
END $$`)
	db.Exec(t, `CREATE TRIGGER fault_audit AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION fault_audit()`)
}

// missingAudited returns the audited (order, event type) pairs the fold has
// not seen, and how many were audited.
func missingAudited(t *testing.T, db *testenv.DB, f *orderFold) (missing []string, audited int) {
	t.Helper()
	rows, err := db.Conn(t).Query(t.Context(), `SELECT DISTINCT order_id::text, event_type FROM fault_audit`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, typ string
		if err := rows.Scan(&id, &typ); err != nil {
			t.Fatal(err)
		}
		audited++
		if !f.seen[[2]string{id, typ}] {
			missing = append(missing, id+" "+typ)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return missing, audited
}

// awaitConverged polls the fold until every order's status equals the
// database's and every audited change has its event.
func awaitConverged(t *testing.T, p *runProc, db *testenv.DB, fold *orderFold, timeout time.Duration) {
	t.Helper()
	want := orderStatuses(t, db)
	testenv.Await(t, timeout, "shop.order to fold to the database and hold every audited change", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		if err := fold.poll(t.Context()); err != nil {
			return false, err
		}
		return foldMatches(t, db, fold, want)
	})
}

// foldMatches reports whether fold's statuses are want and it holds an event
// for every change the database audited; if not, the error says what differs.
func foldMatches(t *testing.T, db *testenv.DB, fold *orderFold, want map[string]string) (bool, error) {
	t.Helper()
	if !equalMaps(fold.status, want) {
		return false, fmt.Errorf("%d orders folded, %d in the database", len(fold.status), len(want))
	}
	if missing, _ := missingAudited(t, db, fold); len(missing) > 0 {
		return false, fmt.Errorf("%d audited changes without an event, e.g. %s", len(missing), missing[0])
	}
	return true, nil
}

// awaitStreamed waits, while p runs, until fold has read more than n
// records beyond those it held when called.
func awaitStreamed(t *testing.T, p *runProc, fold *orderFold, n int) {
	t.Helper()
	before := fold.records
	testenv.Await(t, 30*time.Second, "streamed events on shop.order", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		return fold.records > before+n, fold.poll(t.Context())
	})
}

func loadOrders(ctx context.Context, dsn string, seed uint64, count int64, rate float64) (loadgen.Stats, error) {
	g, err := loadgen.New(loadgen.Config{DSN: dsn, Seed: seed, Count: count, Rate: rate})
	if err != nil {
		return loadgen.Stats{}, err
	}
	err = g.Run(ctx)
	return g.Stats(), err
}

// orderDB creates a database on pg with the reference order schema and, when
// orders > 0, that many order lifecycles written with the test's seed (before
// any slot: a snapshot takes them). It returns the database and the seed.
func orderDB(t *testing.T, pg *testenv.PG, orders int64) (*testenv.DB, uint64) {
	t.Helper()
	db := pg.NewDatabase(t)
	if err := loadgen.Init(t.Context(), db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	seed := uint64(testenv.Seed(t))
	if orders > 0 {
		if _, err := loadOrders(t.Context(), db.DSN, seed, orders, 0); err != nil {
			t.Fatalf("load before the slot: %v", err)
		}
	}
	return db, seed
}

// ordersRunEnv returns the environment of a cdcflow run of the reference
// order database in db publishing to brokers, with its own slot and
// publication (named after prefix, returned) and a fresh data directory;
// extra variables follow and override.
func ordersRunEnv(t *testing.T, db *testenv.DB, brokers []string, prefix string, extra ...string) (slot string, env []string) {
	t.Helper()
	slot = uniqueSlot(prefix)
	return slot, append([]string{
		"CDCFLOW_SOURCE_DSN=" + db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + ordersMappingFile(t),
		"CDCFLOW_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"CDCFLOW_CAPTURE_SLOT=" + slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + slot,
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
	}, extra...)
}

// awaitSnapshot waits, while p runs, until fold has read a complete snapshot
// on shop.order.
func awaitSnapshot(t *testing.T, ctx context.Context, p *runProc, fold *orderFold) {
	t.Helper()
	testenv.Await(t, 60*time.Second, "a complete snapshot on shop.order", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		return fold.snapshotEnds > 0, fold.poll(ctx)
	})
}

// pollEvents polls cl once (for at most 2 s) and hands each record, decoded,
// to fn; it returns the first decoding error or error of fn.
func pollEvents(ctx context.Context, cl *kgo.Client, fn func(r *kgo.Record, ev pipeline.Event) error) error {
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var ferr error
	cl.PollFetches(fctx).EachRecord(func(r *kgo.Record) {
		if ferr != nil {
			return
		}
		ev, err := pipeline.DecodeRecord(recordOf(r))
		if err != nil {
			ferr = fmt.Errorf("decode record at %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			return
		}
		ferr = fn(r, ev)
	})
	return ferr
}

func uniqueSlot(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()%1e9)
}

func ordersMappingFile(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "deploy/examples/orders/mapping.yaml")
}

// TestIntegrationRunKillAtRandom kills `cdcflow run` (at-least-once, the
// broker in its own process) with SIGKILL at seeded random moments, first
// during the snapshot of a few thousand existing orders and then under
// load, restarting it each time on the same slot and data directory. In the
// end shop.order must fold to the database, hold an event for every order
// insert and status change the database audited, and repeat an id only for
// the same event.
func TestIntegrationRunKillAtRandom(t *testing.T) {
	killAtRandom(t, false)
}

// TestIntegrationRunEOSKillAtRandom is TestIntegrationRunKillAtRandom in
// exactly-once mode, with small Kafka transactions (256 KiB) so that the
// snapshot and a 20 000-row transaction are split over many, and one more
// kill as soon as the first part of that transaction is visible. Read with
// read_committed, shop.order must in addition hold no record twice (no
// (id, partition) repeated), and the latest snapshot epoch no order twice.
func TestIntegrationRunEOSKillAtRandom(t *testing.T) {
	killAtRandom(t, true)
}

func killAtRandom(t *testing.T, eos bool) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	if err := loadgen.Init(ctx, db.Conn(t)); err != nil {
		t.Fatal(err)
	}
	seed := testenv.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	// Taken by the snapshot: a thousand order lifecycles and an import of
	// 3000 orders of 9 lines (one transaction of 30 000 rows), enough for
	// the snapshot to take a while.
	if _, err := loadOrders(ctx, db.DSN, uint64(seed), 1000, 0); err != nil {
		t.Fatalf("load before the slot: %v", err)
	}
	g, err := loadgen.New(loadgen.Config{DSN: db.DSN, Seed: uint64(seed) + 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.BigTx(ctx, 30000); err != nil {
		t.Fatalf("import before the slot: %v", err)
	}

	broker := testenv.BrokerProcess(t, "")
	slot := uniqueSlot("kill")
	env := []string{
		"CDCFLOW_SOURCE_DSN=" + db.DSN,
		"CDCFLOW_SOURCE_TIMEZONE=" + loadgen.ShopZone,
		"CDCFLOW_MAPPING_FILE=" + ordersMappingFile(t),
		"CDCFLOW_KAFKA_BROKERS=" + strings.Join(broker.Addrs(), ","),
		"CDCFLOW_KAFKA_TOPICS_PARTITIONS=3",
		"CDCFLOW_CAPTURE_SLOT=" + slot,
		"CDCFLOW_CAPTURE_PUBLICATION=" + slot,
		"CDCFLOW_DATA_DIR=" + t.TempDir(),
	}
	cl := consumer(t, broker.Addrs(), "shop.order")
	if eos {
		env = append(env, "CDCFLOW_KAFKA_DELIVERY=exactly_once", "CDCFLOW_KAFKA_TRANSACTION_MAX_BYTES=262144")
		cl = committedConsumer(t, broker.Addrs(), "shop.order")
	}
	p := startRun(t, env...)
	fold := newOrderFold(cl)

	// Kill during the snapshot: as soon as its first rows are on
	// shop.order, after a seeded pause of up to 150 ms; again after each
	// restart (up to 4 kills) until one has landed before the snapshot's end.
	kills, inSnapshot := 0, 0
	for kills < 4 && fold.snapshotEnds == 0 {
		before := fold.snapshotRowsSeen
		testenv.Await(t, 60*time.Second, "snapshot rows on shop.order", func() (bool, error) {
			if err := p.running(); err != nil {
				return false, err
			}
			return fold.snapshotRowsSeen > before, fold.poll(ctx)
		})
		time.Sleep(time.Duration(rng.Int64N(int64(150 * time.Millisecond))))
		p.kill()
		kills++
		if err := fold.drain(ctx); err != nil {
			t.Fatal(err)
		}
		if fold.snapshotEnds == 0 {
			inSnapshot++
		}
		t.Logf("kill %d: %d records on shop.order, snapshot finished: %v", kills, fold.records, fold.snapshotEnds > 0)
		p.start()
	}
	if inSnapshot == 0 {
		t.Logf("no kill landed during the snapshot (it was too quick)")
	}
	awaitSnapshot(t, ctx, p, fold)

	// Kill under load: the audit starts now, after the snapshot, so every
	// audited change must come as its own event.
	installAudit(t, db)
	if eos {
		// A source transaction larger than a Kafka transaction: kill as
		// soon as its first part is visible to read_committed, which
		// lands between two of the Kafka transactions it is split into.
		if err := fold.drain(ctx); err != nil {
			t.Fatal(err)
		}
		before := fold.records
		if err := g.BigTx(ctx, 20000); err != nil {
			t.Fatalf("large transaction: %v", err)
		}
		testenv.Await(t, 60*time.Second, "the large transaction's first records on shop.order", func() (bool, error) {
			if err := p.running(); err != nil {
				return false, err
			}
			return fold.records > before, fold.poll(ctx)
		})
		p.kill()
		kills++
		skippedBefore := p.skippedRecords()
		visible := fold.records - before
		if err := fold.drain(ctx); err != nil {
			t.Fatal(err)
		}
		committed := int64(fold.records - before)
		t.Logf("kill %d: %d records of the large transaction visible when killed, %d after draining", kills, visible, committed)
		p.start()
		// The slot cannot have been confirmed inside the transaction, so
		// the restart reads it again and must skip what Kafka holds.
		testenv.Await(t, 60*time.Second, "the restart to skip the large transaction's committed records", func() (bool, error) {
			if err := p.running(); err != nil {
				return false, err
			}
			return p.skippedRecords()-skippedBefore >= committed, fold.poll(ctx)
		})
	}
	type result struct {
		stats loadgen.Stats
		err   error
	}
	// CDCFLOW_TEST_KILLS raises the kills under load (default 10), with
	// 150 load transactions per kill, for a longer soak.
	killsUnderLoad := 10
	if v := os.Getenv("CDCFLOW_TEST_KILLS"); v != "" {
		if killsUnderLoad, err = strconv.Atoi(v); err != nil || killsUnderLoad < 1 {
			t.Fatalf("CDCFLOW_TEST_KILLS=%q: want a positive number", v)
		}
	}
	loaded := make(chan result, 1)
	go func() {
		st, err := loadOrders(ctx, db.DSN, uint64(seed)+1, int64(150*killsUnderLoad), 120)
		loaded <- result{st, err}
	}()
	var load result
	underLoad := 0
	for done := false; underLoad < killsUnderLoad || !done; {
		select {
		case load = <-loaded:
			done = true
			if load.err != nil {
				t.Fatalf("load: %v", load.err)
			}
		case <-time.After(time.Duration(300+rng.Int64N(700)) * time.Millisecond):
		}
		if underLoad < killsUnderLoad {
			if err := p.running(); err != nil {
				t.Fatal(err)
			}
			p.kill()
			kills++
			underLoad++
			p.start()
		}
	}
	awaitConverged(t, p, db, fold, 90*time.Second)
	_, audited := missingAudited(t, db, fold)
	epoch, repeatedInEpoch := fold.latestEpochRepeats()
	t.Logf("%d kills (%d during the snapshot, %d starts), %d transactions under load, %d orders, %d audited changes, %d records on shop.order, %d duplicates, %d records repeated, %d snapshot epochs begun (latest %d: %d orders, %d twice)",
		kills, inSnapshot, p.starts, load.stats.Transactions, len(fold.status), audited, fold.records, fold.duplicates, fold.repeats,
		len(fold.epochs), epoch, len(fold.snapshotRows[epoch]), repeatedInEpoch)
	if eos {
		t.Logf("exactly-once: %d records skipped by restarts as already in Kafka", p.skippedRecords())
		if fold.repeats > 0 || fold.duplicates > 0 {
			t.Errorf("exactly-once: %d records repeated (%d events with an id seen before); want none", fold.repeats, fold.duplicates)
		}
		if repeatedInEpoch > 0 {
			t.Errorf("exactly-once: %d orders twice in the latest snapshot epoch %d; want none", repeatedInEpoch, epoch)
		}
	}
}

// TestIntegrationRunBrokerOutage stops the broker for 25 s under load, on a
// PostgreSQL whose wal_sender_timeout (5 s) is shorter than the outage: the
// replication connection must survive (same walsender, no reconnect), the
// process stay within its memory budget, publication resume by itself and
// nothing be lost.
func TestIntegrationRunBrokerOutage(t *testing.T) {
	ctx := t.Context()
	db, seed := orderDB(t, testenv.NewPostgres(t, map[string]string{"wal_sender_timeout": "5s"}), 100)
	broker := testenv.BrokerProcess(t, "")
	metricsAddr := freeAddr(t)
	slot, env := ordersRunEnv(t, db, broker.Addrs(), "outage", "CDCFLOW_KAFKA_MAX_BUFFERED_BYTES=262144", "CDCFLOW_BACKPRESSURE_MAX_BYTES=262144", "CDCFLOW_METRICS_ADDR="+metricsAddr)
	p := startRun(t, env...)
	fold := newOrderFold(consumer(t, broker.Addrs(), "shop.order"))
	awaitSnapshot(t, ctx, p, fold)
	installAudit(t, db)
	walsender := func() (int, error) {
		var pid *int
		err := db.Conn(t).QueryRow(ctx, `SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&pid)
		if err != nil || pid == nil {
			return 0, fmt.Errorf("slot %s has no walsender (%v)", slot, err)
		}
		return *pid, nil
	}
	pid, err := walsender()
	if err != nil {
		t.Fatal(err)
	}
	before, err := p.rss()
	if err != nil {
		t.Fatal(err)
	}

	loaded := make(chan error, 1)
	go func() {
		_, err := loadOrders(ctx, db.DSN, seed+1, 2500, 80)
		loaded <- err
	}()
	// Once streamed events are being published, take the broker away.
	snapshotted := fold.records
	testenv.Await(t, 30*time.Second, "streamed events on shop.order", func() (bool, error) {
		return fold.records > snapshotted+100, fold.poll(ctx)
	})
	if err := broker.Stop(); err != nil {
		t.Fatal(err)
	}
	outageStart := time.Now()
	peak := before
	for time.Since(outageStart) < 25*time.Second {
		if err := p.running(); err != nil {
			t.Fatal(err)
		}
		if got, err := walsender(); err != nil || got != pid {
			t.Fatalf("%v into the outage: walsender %d (%v); was %d", time.Since(outageStart).Round(time.Second), got, err, pid)
		}
		rss, err := p.rss()
		if err != nil {
			t.Fatal(err)
		}
		peak = max(peak, rss)
		time.Sleep(500 * time.Millisecond)
	}
	queued := labeledMetric(t, metricsAddr, "cdcflow_backpressure_queue_bytes")
	if queued <= 0 || queued > 256<<10 {
		t.Errorf("cdcflow_backpressure_queue_bytes = %v at the end of the outage; want the queue filled, within its 256 KiB budget", queued)
	}
	broker.Restart(t)
	// 256 KiB of queue and 256 KiB in the Kafka client, plus what decoding
	// and encoding hold: 32 MiB above the RSS before the outage is generous.
	const slack = 32 << 20
	if peak > before+slack {
		t.Errorf("RSS peaked at %d MiB during the outage, %d MiB before; want at most %d MiB more",
			peak>>20, before>>20, slack>>20)
	}
	if err := <-loaded; err != nil {
		t.Fatalf("load: %v", err)
	}
	awaitConverged(t, p, db, fold, 90*time.Second)
	if got, err := walsender(); err != nil || got != pid {
		t.Errorf("after the outage: walsender %d (%v); was %d", got, err, pid)
	}
	// The queue counts the time a Put waited once it got through.
	blocked := labeledMetric(t, metricsAddr, "cdcflow_backpressure_blocked_seconds_total")
	if blocked <= 0 {
		t.Errorf("cdcflow_backpressure_blocked_seconds_total = %v after the outage; want capture to have waited for room", blocked)
	}
	if n := labeledMetric(t, metricsAddr, "cdcflow_capture_reconnects_total"); n != 0 {
		t.Errorf("cdcflow_capture_reconnects_total = %v; want 0", n)
	}
	t.Logf("outage %v; RSS %d MiB before, peak %d MiB during; %v bytes queued at its end, %.1fs blocked; %d orders, %d records, %d duplicates",
		25*time.Second, before>>20, peak>>20, queued, blocked, len(fold.status), fold.records, fold.duplicates)
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// poisonMapping maps public.gadgets; its ratio is a division by the row's n,
// which fails at run time for n = 0.
const poisonMapping = `version: 1
topics:
  prefix: poison.
  dead_letter: poison.deadletter
tables:
  - table: public.gadgets
    aggregate:
      type: gadget
      id: string(row.id)
    events:
      - type: GadgetAdded
        version: 1
        when: op == "insert"
        data:
          id: row.id
          ratio: 100 / row.n
`

// TestIntegrationRunPoison streams rows of which one cannot be mapped (a
// division by zero in its rule): it must land in the dead-letter topic with
// its reason, table and key, and the rows after it must still come through.
func TestIntegrationRunPoison(t *testing.T) {
	ctx := t.Context()
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE gadgets (id int PRIMARY KEY, n int NOT NULL)`)
	mappingPath := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(mappingPath, []byte(poisonMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	broker := testenv.Kafka(t)
	slot := uniqueSlot("poison")
	p := startRun(t,
		"CDCFLOW_SOURCE_DSN="+db.DSN,
		"CDCFLOW_MAPPING_FILE="+mappingPath,
		"CDCFLOW_MAPPING_NO_VALIDATION=true",
		"CDCFLOW_KAFKA_BROKERS="+strings.Join(broker.Addrs(), ","),
		"CDCFLOW_CAPTURE_SLOT="+slot,
		"CDCFLOW_CAPTURE_PUBLICATION="+slot,
		"CDCFLOW_DATA_DIR="+t.TempDir(),
	)
	testenv.Await(t, 30*time.Second, "the slot to be streaming", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		return testenv.QueryValue[bool](t, db, `SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot), nil
	})
	for id := 1; id <= 10; id++ {
		n := 1 + id%3
		if id == 6 {
			n = 0
		}
		db.Exec(t, `INSERT INTO gadgets VALUES ($1, $2)`, id, n)
	}

	cl := consumer(t, broker.Addrs(), "poison.gadget", "poison.deadletter", "cdcflow.deadletter")
	added := map[string]bool{}
	var dead []pipeline.Event
	var deadTopics []string
	testenv.Await(t, 60*time.Second, "9 gadgets on poison.gadget and 1 dead letter", func() (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		err := pollEvents(ctx, cl, func(r *kgo.Record, ev pipeline.Event) error {
			switch {
			case ev.Control != pipeline.NotControl:
			case ev.DeadLetter:
				dead = append(dead, ev)
				deadTopics = append(deadTopics, r.Topic)
			default:
				added[ev.AggregateID] = true
			}
			return nil
		})
		return len(added) == 9 && len(dead) == 1, err
	})
	if added["6"] {
		t.Errorf("gadget 6 (n = 0) was published as an event")
	}
	if deadTopics[0] != "poison.deadletter" {
		t.Errorf("dead letter on topic %q; want the mapping's poison.deadletter", deadTopics[0])
	}
	var dl pipeline.DeadLetter
	if err := json.Unmarshal(dead[0].Data, &dl); err != nil {
		t.Fatalf("decode dead letter: %v", err)
	}
	if !strings.Contains(dl.Reason, "division by zero") || dl.Table != "public.gadgets" || !strings.Contains(string(dl.Key), "6") {
		t.Errorf("dead letter = reason %q, table %q, key %s; want a division by zero of public.gadgets key 6", dl.Reason, dl.Table, dl.Key)
	}
	t.Logf("dead letter on %s: %s (rule %q, table %s, key %s)", deadTopics[0], dl.Reason, dl.Rule, dl.Table, dl.Key)
}

package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainVerifyNoLeaks(m) }

// collector is a handler that keeps what it is handed and, when confirm is
// set, confirms every chunk's last position right away.
type collector struct {
	confirm bool
	discard bool // keep nothing (memory tests)
	r       *Reader
	// hook, when set, runs for every chunk before it is recorded; an error
	// fails the handler.
	hook func(ctx context.Context, msgs []capture.Message) error

	mu   sync.Mutex
	msgs []capture.Message
}

func (c *collector) handle(ctx context.Context, msgs []capture.Message) error {
	if c.hook != nil {
		if err := c.hook(ctx, msgs); err != nil {
			return err
		}
	}
	if !c.discard {
		c.mu.Lock()
		c.msgs = append(c.msgs, msgs...)
		c.mu.Unlock()
	}
	if c.confirm {
		if p := capture.Confirmable(msgs); p != 0 {
			c.r.Confirm(p)
		}
	}
	return nil
}

func (c *collector) all() []capture.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]capture.Message(nil), c.msgs...)
}

// changes returns the collected changes (stream and snapshot).
func (c *collector) changes() []*capture.Change {
	var out []*capture.Change
	for _, m := range c.all() {
		if ch, ok := m.(*capture.Change); ok {
			out = append(out, ch)
		}
	}
	return out
}

func (c *collector) count(pred func(capture.Message) bool) int {
	n := 0
	for _, m := range c.all() {
		if pred(m) {
			n++
		}
	}
	return n
}

func isConnected(m capture.Message) bool { _, ok := m.(*capture.Connected); return ok }

func isMarker(kind capture.MarkerKind) func(capture.Message) bool {
	return func(m capture.Message) bool {
		mk, ok := m.(*capture.Marker)
		return ok && mk.Kind == kind
	}
}

// running is a Reader running in the background of a test.
type running struct {
	r        *Reader
	c        *collector
	cancel   context.CancelFunc
	finished chan struct{} // closed when Run returned, with err set
	err      error
}

// exited reports whether Run returned, and its error.
func (rr *running) exited() (bool, error) {
	select {
	case <-rr.finished:
		return true, rr.err
	default:
		return false, nil
	}
}

// wait waits up to d for Run to return and returns its error.
func (rr *running) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-rr.finished:
		return rr.err
	case <-time.After(d):
		t.Fatalf("Run did not return within %s", d)
		return nil
	}
}

// stop cancels Run and returns its error (nil for a clean shutdown).
func (rr *running) stop(t *testing.T) error {
	t.Helper()
	rr.cancel()
	err := rr.wait(t, 30*time.Second)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func testConfig(db *testenv.DB, tables ...string) Config {
	return Config{
		DSN:               db.DSN,
		Tables:            tables,
		HeartbeatInterval: 200 * time.Millisecond,
		StatusInterval:    time.Second,
		ReconnectMin:      50 * time.Millisecond,
		ReconnectMax:      500 * time.Millisecond,
	}
}

func start(t *testing.T, cfg Config, c *collector, m *Metrics) *running {
	t.Helper()
	r, err := New(cfg, nil, m)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.r = r
	ctx, cancel := context.WithCancel(t.Context())
	rr := &running{r: r, c: c, cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(rr.finished)
		rr.err = r.Run(ctx, c.handle)
	}()
	t.Cleanup(func() { rr.cancel(); <-rr.finished })
	return rr
}

// awaitChanges waits until the collector holds at least n changes.
func awaitChanges(t *testing.T, rr *running, n int) []*capture.Change {
	t.Helper()
	testenv.Await(t, 60*time.Second, fmt.Sprintf("%d changes", n), func() (bool, error) {
		if done, err := rr.exited(); done {
			t.Fatalf("Run returned: %v", err)
		}
		return len(rr.c.changes()) >= n, nil
	})
	return rr.c.changes()
}

func intValue(t *testing.T, v capture.Value) int64 {
	t.Helper()
	if v.Kind != capture.KindValue {
		t.Fatalf("value kind %d, want a value", v.Kind)
	}
	n, ok := v.Data.(int64)
	if !ok {
		t.Fatalf("value %#v is %T, want int64", v.Data, v.Data)
	}
	return n
}

func slotConfirmed(t *testing.T, db *testenv.DB, slot string) capture.LSN {
	t.Helper()
	s := testenv.QueryValue[*string](t, db, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", slot)
	if s == nil {
		return 0
	}
	lsn, err := capture.ParseLSN(*s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

func TestIntegrationSnapshotThenStream(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE "Order Lines" (id int PRIMARY KEY, qty int NOT NULL);
		INSERT INTO "Order Lines" SELECT g, g * 10 FROM generate_series(1, 3) g;
		CREATE TABLE other (id int PRIMARY KEY)`)
	c := &collector{confirm: true}
	rr := start(t, testConfig(db, `public."Order Lines"`), c, nil)
	awaitChanges(t, rr, 3)
	db.Exec(t, `BEGIN; INSERT INTO "Order Lines" VALUES (4, 40); INSERT INTO other VALUES (1);
		UPDATE "Order Lines" SET qty = 11 WHERE id = 1; DELETE FROM "Order Lines" WHERE id = 2; COMMIT`)
	got := awaitChanges(t, rr, 6)

	msgs := c.all()
	if _, ok := msgs[0].(*capture.Connected); !ok {
		t.Fatalf("first message %T, want *capture.Connected", msgs[0])
	}
	conn := msgs[0].(*capture.Connected)
	begin, ok := msgs[1].(*capture.Marker)
	if !ok || begin.Kind != capture.MarkerSnapshotBegin || begin.Epoch != uint64(conn.StartLSN) || begin.LSN != conn.StartLSN-1 {
		t.Fatalf("second message %#v, want snapshot begin of epoch %d at %s", msgs[1], conn.StartLSN, conn.StartLSN-1)
	}
	for i, ch := range got[:3] {
		if ch.Op != capture.OpRead || ch.Epoch != begin.Epoch || ch.FinalLSN != begin.LSN || ch.Index != uint32(i) {
			t.Errorf("snapshot row %d = op %s epoch %d lsn %s index %d", i, ch.Op, ch.Epoch, ch.FinalLSN, ch.Index)
		}
	}
	wantOps := []capture.Op{capture.OpInsert, capture.OpUpdate, capture.OpDelete}
	var commit *capture.Commit
	for _, m := range msgs {
		if cm, ok := m.(*capture.Commit); ok {
			commit = cm
		}
	}
	if commit == nil {
		t.Fatal("no commit")
	}
	for i, ch := range got[3:] {
		if ch.Op != wantOps[i] {
			t.Errorf("change %d op %s, want %s", i, ch.Op, wantOps[i])
		}
		if ch.FinalLSN != commit.FinalLSN || ch.FinalLSN <= conn.StartLSN {
			t.Errorf("change %d FinalLSN %s, want commit %s after start %s", i, ch.FinalLSN, commit.FinalLSN, conn.StartLSN)
		}
		if ch.Relation.Table != "Order Lines" {
			t.Errorf("change %d of table %q", i, ch.Relation.Table)
		}
	}
	// The change to "other" (not configured) is not handed on, but counts
	// in the transaction's indexes: insert 0, other 1, update 2, delete 3.
	if idx := []uint32{got[3].Index, got[4].Index, got[5].Index}; idx[0] >= idx[1] || idx[1] >= idx[2] {
		t.Errorf("indexes %v not increasing", idx)
	}
	if d := got[5]; intValue(t, d.Old[0]) != 2 {
		t.Errorf("delete old key %v, want 2", d.Old)
	}
	testenv.Await(t, 30*time.Second, "slot confirmed at the commit's end", func() (bool, error) {
		return slotConfirmed(t, db, "cdcflow") >= commit.EndLSN, nil
	})
	if err := rr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// A restart resumes after the confirmed transaction: nothing again.
	c2 := &collector{confirm: true}
	rr2 := start(t, testConfig(db, `public."Order Lines"`), c2, nil)
	db.Exec(t, `INSERT INTO "Order Lines" VALUES (5, 50)`)
	got2 := awaitChanges(t, rr2, 1)
	if len(got2) != 1 || got2[0].Op != capture.OpInsert || intValue(t, got2[0].New[0]) != 5 {
		t.Fatalf("after restart got %d changes, first %+v; want only the insert of 5", len(got2), got2[0])
	}
	if n := c2.count(isMarker(capture.MarkerSnapshotBegin)); n != 0 {
		t.Errorf("restart took %d snapshots, want none", n)
	}
}

// A blocked handler must not let wal_sender_timeout end the session, and
// must keep the Reader from buffering the WAL.
func TestIntegrationBlockedHandlerKeepsConnection(t *testing.T) {
	pg := testenv.NewPostgres(t, map[string]string{"wal_sender_timeout": "2s"})
	db := pg.NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, pad text)`)
	unblock := make(chan struct{})
	var once sync.Once
	blockedAt := make(chan struct{})
	c := &collector{confirm: true}
	c.hook = func(ctx context.Context, msgs []capture.Message) error {
		for _, m := range msgs {
			if _, ok := m.(*capture.Change); ok {
				once.Do(func() { close(blockedAt) })
				select {
				case <-unblock:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	cfg := testConfig(db, "t")
	cfg.SnapshotMode = SnapshotNever
	cfg.StatusInterval = 10 * time.Second // capped to wal_sender_timeout/3
	cfg.WALSenderTimeout = -1             // the server's 2s, not the session default
	cfg.ChunkMessages = 16
	rr := start(t, cfg, c, m)
	testenv.Await(t, 30*time.Second, "connected", func() (bool, error) { return c.count(isConnected) == 1, nil })
	db.Exec(t, `INSERT INTO t VALUES (0, 'first')`)
	select {
	case <-blockedAt:
	case <-time.After(30 * time.Second):
		t.Fatal("handler never got the first change")
	}
	// 20000 rows of 1 kB: far more than three chunks and the socket buffers.
	db.Exec(t, `INSERT INTO t SELECT g, repeat('x', 1000) FROM generate_series(1, 20000) g`)
	time.Sleep(7 * time.Second) // several wal_sender_timeouts with the handler blocked
	close(unblock)
	awaitChanges(t, rr, 20001)
	if n := c.count(isConnected); n != 1 {
		t.Errorf("%d sessions, want 1: the connection did not survive the blocked handler", n)
	}
	if n := testutil.ToFloat64(m.reconnects); n != 0 {
		t.Errorf("reconnects = %v, want 0", n)
	}
	if s := testutil.ToFloat64(m.blockedSeconds); s < 5 {
		t.Errorf("blocked seconds = %v, want >= 5", s)
	}
}

// Only an unpublished table is written: heartbeats still let the slot's
// confirmed_flush_lsn advance.
func TestIntegrationHeartbeatAdvancesIdleSlot(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE captured (id int PRIMARY KEY); CREATE TABLE busy (id serial PRIMARY KEY, v text)`)
	c := &collector{confirm: true}
	cfg := testConfig(db, "captured")
	cfg.SnapshotMode = SnapshotNever
	m := NewMetrics(prometheus.NewRegistry())
	start(t, cfg, c, m)
	testenv.Await(t, 30*time.Second, "connected", func() (bool, error) { return c.count(isConnected) == 1, nil })
	startLSN := slotConfirmed(t, db, "cdcflow")
	for range 20 {
		db.Exec(t, `INSERT INTO busy (v) SELECT repeat('y', 100) FROM generate_series(1, 500)`)
	}
	after := testenv.QueryValue[string](t, db, "SELECT pg_current_wal_lsn()::text")
	afterLSN, _ := capture.ParseLSN(after)
	testenv.Await(t, 30*time.Second, "confirmed_flush_lsn past the unpublished writes", func() (bool, error) {
		return slotConfirmed(t, db, "cdcflow") > afterLSN, nil
	})
	if slotConfirmed(t, db, "cdcflow") <= startLSN {
		t.Fatal("slot did not advance")
	}
	if n := len(c.changes()); n != 0 {
		t.Errorf("%d changes handed on, want 0", n)
	}
	if n := testutil.ToFloat64(m.heartbeats); n < 1 {
		t.Errorf("heartbeats = %v", n)
	}
	testenv.Await(t, 30*time.Second, "slot metrics", func() (bool, error) {
		return testutil.ToFloat64(m.retainedBytes) > 0 && testutil.ToFloat64(m.confirmedLSN) > float64(afterLSN) &&
			testutil.ToFloat64(m.receivedLSN) > 0 && testutil.ToFloat64(m.lastHeartbeat) > 0, nil
	})
	if got := testutil.ToFloat64(m.walStatus.WithLabelValues("reserved")); got != 1 {
		t.Errorf(`cdcflow_capture_slot_wal_status{wal_status="reserved"} = %v; want 1`, got)
	}
	for _, w := range []string{"extended", "unreserved", "lost"} {
		if got := testutil.ToFloat64(m.walStatus.WithLabelValues(w)); got != 0 {
			t.Errorf("cdcflow_capture_slot_wal_status{wal_status=%q} = %v; want 0", w, got)
		}
	}
	if got := testutil.ToFloat64(m.active); got != 1 {
		t.Errorf("cdcflow_capture_slot_active = %v; want 1 while the Reader streams", got)
	}
	if age := float64(time.Now().UnixNano())/1e9 - testutil.ToFloat64(m.lastHeartbeat); age < 0 || age > 30 {
		t.Errorf("heartbeat age = %.1fs; want a recent confirmed heartbeat", age)
	}
}

// A transaction far larger than a chunk is handed on in chunks, with a
// flat heap. CDCFLOW_TEST_SOAK_ROWS sets the transaction's size (default
// 200000).
func TestIntegrationLargeTransactionFlatMemory(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE big (id int PRIMARY KEY, pad text)`)
	rows := 200_000
	if v := os.Getenv("CDCFLOW_TEST_SOAK_ROWS"); v != "" { // make soak: 1000000
		n, err := strconv.Atoi(v)
		if err != nil || n < 50_000 {
			t.Fatalf("CDCFLOW_TEST_SOAK_ROWS=%q: want a number of at least 50000", v)
		}
		rows = n
	}
	var seen int // the handler's
	var heapAt50k, heapAt200k, maxChunk atomic.Uint64
	c := &collector{discard: true}
	c.hook = func(ctx context.Context, msgs []capture.Message) error {
		maxChunk.Store(max(maxChunk.Load(), uint64(len(msgs))))
		for _, m := range msgs {
			if _, ok := m.(*capture.Change); ok {
				seen++
				if seen == 50_000 || seen == rows {
					runtime.GC()
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					if seen == 50_000 {
						heapAt50k.Store(ms.HeapInuse)
					} else {
						heapAt200k.Store(ms.HeapInuse)
					}
				}
			}
		}
		if p := capture.Confirmable(msgs); p != 0 {
			c.r.Confirm(p)
		}
		return nil // keep nothing: the test measures the Reader
	}
	cfg := testConfig(db, "big")
	cfg.SnapshotMode = SnapshotNever
	rr := start(t, cfg, c, nil)
	testenv.Await(t, 30*time.Second, "connected", func() (bool, error) { return rr.r.Confirmed() != 0, nil })
	db.Exec(t, fmt.Sprintf(`INSERT INTO big SELECT g, repeat('z', 200) FROM generate_series(1, %d) g`, rows))
	testenv.Await(t, 120*time.Second, "all rows", func() (bool, error) {
		if done, err := rr.exited(); done {
			t.Fatalf("Run returned: %v", err)
		}
		return heapAt200k.Load() != 0, nil
	})
	h50, h200 := heapAt50k.Load(), heapAt200k.Load()
	t.Logf("heap in use at 50k rows: %d kB, at %d rows: %d kB; largest chunk %d messages", h50>>10, rows, h200>>10, maxChunk.Load())
	if maxChunk.Load() > uint64(rr.r.cfg.ChunkMessages) {
		t.Errorf("chunk of %d messages, limit %d", maxChunk.Load(), rr.r.cfg.ChunkMessages)
	}
	if h200 > h50+8<<20 {
		t.Errorf("heap grew from %d kB at 50k rows to %d kB at %d rows", h50>>10, h200>>10, rows)
	}
}

func TestIntegrationReconnectAfterWalsenderTerminated(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	c := &collector{confirm: true}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	cfg := testConfig(db, "t")
	cfg.SnapshotMode = SnapshotNever
	rr := start(t, cfg, c, m)
	testenv.Await(t, 30*time.Second, "connected", func() (bool, error) { return c.count(isConnected) == 1, nil })
	db.Exec(t, `INSERT INTO t VALUES (1)`)
	awaitChanges(t, rr, 1)
	db.Exec(t, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'cdcflow'`)
	db.Exec(t, `INSERT INTO t VALUES (2)`)
	awaitChanges(t, rr, 2)
	testenv.Await(t, 30*time.Second, "second session", func() (bool, error) { return c.count(isConnected) >= 2, nil })
	db.Exec(t, `INSERT INTO t VALUES (3)`)
	got := awaitChanges(t, rr, 3)
	var ids []int64
	for _, ch := range got {
		ids = append(ids, intValue(t, ch.New[0]))
	}
	if fmt.Sprint(ids) != "[1 2 3]" {
		t.Errorf("ids %v, want [1 2 3] (each once)", ids)
	}
	if n := testutil.ToFloat64(m.reconnects); n < 1 {
		t.Errorf("reconnects = %v, want >= 1", n)
	}
	if n := testutil.ToFloat64(m.changes.WithLabelValues("public.t", "insert")); n != 3 {
		t.Errorf("changes_total{public.t,insert} = %v, want 3", n)
	}
}

// A snapshot that the consumer never finished is started over as a new
// epoch: the slot is dropped and created again.
func TestIntegrationInterruptedSnapshotStartsNewEpoch(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)`)
	c := &collector{}
	fail := errors.New("consumer crashed")
	c.hook = func(ctx context.Context, msgs []capture.Message) error {
		for _, m := range msgs {
			if ch, ok := m.(*capture.Change); ok && ch.Op == capture.OpRead {
				return fail
			}
		}
		return nil
	}
	rr := start(t, testConfig(db, "t"), c, nil)
	if err := rr.wait(t, 60*time.Second); !errors.Is(err, fail) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	var firstEpoch uint64
	for _, m := range c.all() {
		if mk, ok := m.(*capture.Marker); ok && mk.Kind == capture.MarkerSnapshotBegin {
			firstEpoch = mk.Epoch
		}
	}
	if firstEpoch == 0 {
		t.Fatal("no snapshot begin before the failure")
	}
	db.Exec(t, `INSERT INTO t VALUES (11)`)

	// A new process: the slot exists, its snapshot never completed.
	c2 := &collector{confirm: true}
	rr2 := start(t, testConfig(db, "t"), c2, nil)
	testenv.Await(t, 60*time.Second, "a complete new snapshot", func() (bool, error) {
		return c2.count(isMarker(capture.MarkerSnapshotEnd)) == 1, nil
	})
	var epoch uint64
	reads := 0
	for _, m := range c2.all() {
		switch m := m.(type) {
		case *capture.Marker:
			if m.Kind == capture.MarkerSnapshotEnd {
				epoch = m.Epoch
			}
		case *capture.Change:
			if m.Op == capture.OpRead {
				reads++
			}
		}
	}
	if epoch <= firstEpoch {
		t.Errorf("new epoch %d, want > %d", epoch, firstEpoch)
	}
	if reads != 11 {
		t.Errorf("new snapshot read %d rows, want 11", reads)
	}
	_ = rr2
}

// When the slot's position went back before its snapshot marker but the
// consumer reports the epoch complete downstream (Config.SnapshotDone), the
// Reader streams on from the marker instead of snapshotting again.
func TestIntegrationSnapshotDoneDownstreamStreamsOn(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)`)
	// A consumer that takes the whole snapshot but confirms nothing, as a
	// slot whose confirmed position was lost looks on the next start.
	c := &collector{}
	rr := start(t, testConfig(db, "t"), c, nil)
	testenv.Await(t, 60*time.Second, "a complete snapshot", func() (bool, error) {
		return c.count(isMarker(capture.MarkerSnapshotEnd)) == 1, nil
	})
	if err := rr.stop(t); err != nil {
		t.Fatal(err)
	}
	var epoch uint64
	for _, m := range c.all() {
		if mk, ok := m.(*capture.Marker); ok && mk.Kind == capture.MarkerSnapshotEnd {
			epoch = mk.Epoch
		}
	}
	db.Exec(t, `INSERT INTO t VALUES (11)`)

	cfg := testConfig(db, "t")
	var (
		mu       sync.Mutex // SnapshotDone runs on the Reader's goroutine
		asked    []uint64
		askedSrc capture.Source
	)
	cfg.SnapshotDone = func(src capture.Source, e uint64) bool {
		mu.Lock()
		defer mu.Unlock()
		asked, askedSrc = append(asked, e), src
		return e == epoch
	}
	c2 := &collector{confirm: true}
	start(t, cfg, c2, nil)
	testenv.Await(t, 60*time.Second, "the insert after the snapshot", func() (bool, error) {
		return c2.count(func(m capture.Message) bool {
			ch, ok := m.(*capture.Change)
			return ok && ch.Op == capture.OpInsert
		}) == 1, nil
	})
	if c2.count(isMarker(capture.MarkerSnapshotBegin)) != 0 {
		t.Error("a new snapshot began; want streaming on from the marker")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != epoch {
		t.Errorf("SnapshotDone asked for epochs %v; want [%d]", asked, epoch)
	}
	var conn *capture.Connected
	for _, m := range c2.all() {
		if cm, ok := m.(*capture.Connected); ok {
			conn = cm
		}
	}
	if conn == nil || askedSrc != conn.Source {
		t.Errorf("SnapshotDone asked for source %+v; want the session's %+v", askedSrc, conn)
	}
}

func TestIntegrationBlockedSlotCreationNamesBackend(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	blocker := db.Conn(t)
	if _, err := blocker.Exec(t.Context(), "SET application_name = 'legacy-app'"); err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec(t.Context(), "BEGIN; INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := blocker.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(db, "t")
	cfg.SlotCreateTimeout = 2 * time.Second
	rr := start(t, cfg, &collector{}, nil)
	err := rr.wait(t, 60*time.Second)
	var be *SlotCreateBlockedError
	if !errors.As(err, &be) {
		t.Fatalf("Run = %v, want a SlotCreateBlockedError", err)
	}
	msg := err.Error()
	for _, want := range []string{fmt.Sprintf("pid %d", pid), `"legacy-app"`, "transaction started", "pg_terminate_backend"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %s", msg, want)
		}
	}
	if _, err := blocker.Exec(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if n := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM pg_replication_slots"); n != 0 {
		t.Errorf("%d slots left behind, want 0", n)
	}
}

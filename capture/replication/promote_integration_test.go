package replication

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// connected returns the Connected messages c was handed.
func connected(c *collector) []*capture.Connected {
	var out []*capture.Connected
	for _, m := range c.all() {
		if cm, ok := m.(*capture.Connected); ok {
			out = append(out, cm)
		}
	}
	return out
}

// promotedStandby builds a real promoted standby on PostgreSQL 15, which
// has no slot synchronization: a primary captured by a Reader (slot "promo",
// a snapshot of 3 rows, then one insert), its data directory, slot included,
// copied while it is stopped, started as a standby (standby.signal) and
// promoted to timeline 2. The slot was confirmed before the switch point.
// It returns the primary's first Connected, the commit LSN of the last
// transaction handed on there and the promoted server's DSN.
func promotedStandby(t *testing.T) (*capture.Connected, capture.LSN, string) {
	primary := testenv.NewPostgres(t, nil)
	db := primary.NewDatabase(t)
	db.Exec(t, `CREATE TABLE "Orders" (id int PRIMARY KEY, note text);
		INSERT INTO "Orders" SELECT g, 'n' || g FROM generate_series(1, 3) g`)
	cfg := Config{DSN: db.DSN, Slot: "promo", Tables: []string{`public."Orders"`}, HeartbeatInterval: -1}
	c1 := &collector{confirm: true}
	rr := start(t, cfg, c1, nil)
	awaitChanges(t, rr, 3) // the snapshot
	db.Exec(t, `INSERT INTO "Orders" VALUES (4, 'n4')`)
	last := awaitChanges(t, rr, 4)[3].FinalLSN
	if err := rr.stop(t); err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Run: %v", err)
	}
	first := connected(c1)
	if len(first) == 0 || first[0].Source.Timeline != 1 {
		t.Fatalf("first Connected = %+v; want timeline 1", first)
	}

	sbDSN := promote(t, primary, db.Name, 0)
	return first[0], last, sbDSN
}

// promote stops primary, copies its cluster (pg_replslot included), starts
// the copy as a standby (standby.signal) on port (0: any free one), promotes
// it with pg_promote() and returns its DSN for database name.
func promote(t *testing.T, primary *testenv.PG, name string, port int) string {
	t.Helper()
	ctx := t.Context()
	if err := primary.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "cdcflow-sb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if out, err := exec.CommandContext(ctx, "cp", "-a", filepath.Join(primary.Dir(), "data"), filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("copy data directory: %v: %s", err, out)
	}
	signal := filepath.Join(dir, "data", "standby.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		if err := os.Chown(signal, int(st.Uid), int(st.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := services.StartPostgres(ctx, services.PostgresOptions{Dir: dir, Port: port})
	if err != nil {
		t.Fatalf("start standby: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(sb.LogPath()); err == nil {
				t.Logf("promoted server's log:\n%s", b[max(0, len(b)-6000):])
			}
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sb.Stop(sctx); err != nil {
			t.Errorf("stop standby: %v", err)
		}
	})
	sbDSN := sb.DSN(name)
	conn, err := pgx.Connect(ctx, sbDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var recovery, promoted bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil || !recovery {
		t.Fatalf("copy in recovery = %v, %v; want a standby", recovery, err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_promote(true, 60)").Scan(&promoted); err != nil || !promoted {
		t.Fatalf("pg_promote = %v, %v", promoted, err)
	}
	return sbDSN
}

// runOn runs a Reader with cfg on the promoted server, logging into logs.
func runOn(t *testing.T, cfg Config, logs *lockedBuffer) (*collector, <-chan error) {
	t.Helper()
	r, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{confirm: true, r: r}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, c.handle) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("reader's log:\n%s", logs.String())
		}
	})
	return c, done
}

// Without a verified failover slot the Reader keeps the behaviour of a new
// source on the promoted server (slot dropped, new snapshot, the new
// timeline in the source) and says in its log why the slot was not resumed.
func TestIntegrationPromotedStandbyIsNewSourceWithoutFailoverSlot(t *testing.T) {
	first, _, sbDSN := promotedStandby(t)
	var logs lockedBuffer
	c2, done := runOn(t, Config{DSN: sbDSN, Slot: "promo", Tables: []string{`public."Orders"`}, HeartbeatInterval: -1}, &logs)
	testenv.Await(t, 60*time.Second, "a new snapshot of the 4 rows on the promoted server", func() (bool, error) {
		select {
		case err := <-done:
			t.Fatalf("Run returned: %v", err)
		default:
		}
		n := 0
		for _, ch := range c2.changes() {
			if ch.Op == capture.OpRead {
				n++
			}
		}
		return n >= 4, nil
	})
	second := connected(c2)
	if len(second) == 0 || !second[0].NewSource || second[0].Source.Timeline != 2 ||
		second[0].Source.SystemID != first.Source.SystemID || second[0].Source.URI() == first.Source.URI() {
		t.Errorf("Connected on the promoted server = %+v; want a new source on timeline 2 of system %s", second, first.Source.SystemID)
	}
	for _, want := range []string{
		"slot position predates the current timeline",
		`why_not_resumed="source.failover_slot is off"`,
		"slot created",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
}

// With a failover slot, the promoted server's slot resumes as the same
// source: no new snapshot, the session names the old timeline (so what it
// sends again from before the switch keeps its ids and exactly-once
// position), and the first transaction written on the new timeline comes
// after a second Connected naming timeline 2. PostgreSQL 15 has no failover
// slots: the test lends the copied slot the columns PostgreSQL 17 shows on
// a promoted standby's synchronized slot (failover, synced) and a version
// of 17; everything else — the slot, the timeline history, the switch
// point, the WAL streamed — is the real promoted server's. The old
// primary was not seen by this Reader, so it resumes on the exactly-once
// position stored downstream (Config.Published): the last transaction the
// old primary sent, which lies before the switch point.
func TestIntegrationPromotedStandbyResumesFailoverSlot(t *testing.T) {
	first, last, sbDSN := promotedStandby(t)
	lendFailover(t, "")

	var logs lockedBuffer
	cfg := Config{DSN: sbDSN, Slot: "promo", Tables: []string{`public."Orders"`}, HeartbeatInterval: -1, FailoverSlot: true,
		Published: func() (string, capture.LSN, bool) { return first.Source.URI(), last, true },
		// PostgreSQL 15 did not write the slot's confirmed position at the
		// shutdown checkpoint, so the stream starts before the snapshot
		// marker again: it names the old source, whose epoch is complete
		// downstream (as flow.SnapshotDone would say of the stored
		// position).
		SnapshotDone: func(src capture.Source, epoch uint64) bool {
			return src.URI() == first.Source.URI() && uint64(last) > epoch-1
		}}
	c2, done := runOn(t, cfg, &logs)
	testenv.Await(t, 60*time.Second, "the session on the promoted server", func() (bool, error) {
		select {
		case err := <-done:
			t.Fatalf("Run returned: %v\n%s", err, logs.String())
		default:
		}
		return len(connected(c2)) > 0, nil
	})
	conn, err := pgx.Connect(t.Context(), sbDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), `INSERT INTO "Orders" VALUES (5, 'written on timeline 2')`); err != nil {
		t.Fatal(err)
	}
	var fresh *capture.Change
	testenv.Await(t, 60*time.Second, "the insert made on the promoted server", func() (bool, error) {
		select {
		case err := <-done:
			t.Fatalf("Run returned: %v\n%s", err, logs.String())
		default:
		}
		for _, ch := range c2.changes() {
			if ch.Op == capture.OpInsert && ch.FinalLSN > last {
				fresh = ch
				return true, nil
			}
		}
		return false, nil
	})

	var sources []string
	tl := int32(0)
	for _, m := range c2.all() {
		switch m := m.(type) {
		case *capture.Connected:
			if m.NewSource {
				t.Errorf("Connected %+v says new source", m)
			}
			sources = append(sources, m.Source.URI())
			tl = m.Source.Timeline
		case *capture.Change:
			if m.Op == capture.OpRead {
				t.Fatalf("a snapshot row on the promoted server: the slot was not resumed\n%s", logs.String())
			}
			// A change the old primary sent is named by timeline 1, the
			// insert made on the promoted server by timeline 2.
			if want := map[bool]int32{true: 1, false: 2}[m.FinalLSN <= last]; tl != want {
				t.Errorf("change at %s handed on under timeline %d; want %d", m.FinalLSN, tl, want)
			}
		}
	}
	second := first.Source
	second.Timeline = 2
	if want := []string{first.Source.URI(), second.URI()}; strings.Join(sources, " ") != strings.Join(want, " ") {
		t.Errorf("Connected sources %v; want %v (the old primary's, then timeline 2 from the switch)", sources, want)
	}
	if fresh == nil || tl != 2 {
		t.Errorf("the insert on the promoted server came under timeline %d; want 2", tl)
	}
	for _, want := range []string{
		"failover slot resumes on the promoted server as the same source",
		"stream crossed the timeline switch",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "slot created") {
		t.Errorf("the slot was created again:\n%s", logs.String())
	}
}

// lendFailover makes readFailover report what PostgreSQL 15 cannot: version
// 17, the slot a synced failover slot (the columns a PostgreSQL 17 promoted
// standby shows) and, when standbySlot is set, synchronized_standby_slots
// and primary_slot_name naming it. Everything else is the real server's.
func lendFailover(t *testing.T, standbySlot string) {
	orig := readFailover
	readFailover = func(ctx context.Context, conn *pgx.Conn, name string) (ServerFailover, error) {
		sf, err := orig(ctx, conn, name)
		if err != nil {
			return sf, err
		}
		sf.VersionNum, sf.Version = FailoverMinVersion, "17.0 (lent to 15)"
		if sf.Slot.Exists {
			sf.Slot.Failover, sf.Slot.Synced = true, true
		}
		if standbySlot != "" {
			sf.SynchronizedStandbySlots, sf.PrimarySlotName = standbySlot, standbySlot
		}
		return sf, nil
	}
	t.Cleanup(func() { readFailover = orig })
}

// freePort returns a TCP port free at the time of the call.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The process that streamed from the old primary, where it verified
// synchronized_standby_slots (lent: "sb1_slot"), reconnects through a
// multi-host DSN with target_session_attrs=read-write to the promoted
// standby (whose primary_slot_name, lent, is "sb1_slot") and resumes the
// slot as the same source: no new snapshot, nothing handed on twice, and
// the insert made on the promoted server under timeline 2.
func TestIntegrationPromotedStandbyResumesInProcess(t *testing.T) {
	lendFailover(t, "sb1_slot")
	primary := testenv.NewPostgres(t, nil)
	db := primary.NewDatabase(t)
	db.Exec(t, `CREATE TABLE "Orders" (id int PRIMARY KEY, note text);
		INSERT INTO "Orders" SELECT g, 'n' || g FROM generate_series(1, 3) g`)
	port := freePort(t)
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=5",
		primary.Port(), port, db.Name)
	var logs lockedBuffer
	c, done := runOn(t, Config{DSN: dsn, Slot: "promo", Tables: []string{`public."Orders"`}, HeartbeatInterval: -1,
		FailoverSlot: true, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}, &logs)
	await := func(what string, cond func() bool) {
		t.Helper()
		testenv.Await(t, 60*time.Second, what, func() (bool, error) {
			select {
			case err := <-done:
				t.Fatalf("Run returned: %v", err)
			default:
			}
			return cond(), nil
		})
	}
	count := func(op capture.Op) int {
		n := 0
		for _, ch := range c.changes() {
			if ch.Op == op {
				n++
			}
		}
		return n
	}
	await("the snapshot", func() bool { return count(capture.OpRead) == 3 })
	db.Exec(t, `INSERT INTO "Orders" VALUES (4, 'n4')`)
	await("the insert on the primary", func() bool { return count(capture.OpInsert) == 1 })

	sbDSN := promote(t, primary, db.Name, port)
	conn, err := pgx.Connect(t.Context(), sbDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	await("the session on the promoted server", func() bool { return len(connected(c)) >= 2 })
	if _, err := conn.Exec(t.Context(), `INSERT INTO "Orders" VALUES (5, 'written on timeline 2')`); err != nil {
		t.Fatal(err)
	}
	await("the insert on the promoted server", func() bool { return count(capture.OpInsert) >= 2 })

	var sources []string
	var tl int32
	inserts := map[int32]int{}
	for _, m := range c.all() {
		switch m := m.(type) {
		case *capture.Connected:
			if m.NewSource {
				t.Errorf("Connected %+v says new source", m)
			}
			sources = append(sources, m.Source.URI())
			tl = m.Source.Timeline
		case *capture.Change:
			if m.Op == capture.OpInsert {
				inserts[tl]++
			}
		}
	}
	if count(capture.OpRead) != 3 {
		t.Errorf("%d snapshot rows; want the first snapshot's 3 only", count(capture.OpRead))
	}
	if inserts[1] != 1 || inserts[2] != 1 {
		t.Errorf("inserts by timeline %v; want one on each (nothing handed on twice)", inserts)
	}
	if n := len(sources); n != 3 || sources[0] != sources[1] || !strings.HasSuffix(sources[0], "?tl=1") || !strings.HasSuffix(sources[2], "?tl=2") {
		t.Errorf("Connected sources %v; want timeline 1 on the primary, timeline 1 again on the promoted server, then timeline 2 from the switch", sources)
	}
	for _, want := range []string{
		"failover slot resumes on the promoted server as the same source",
		"standby_slot=sb1_slot",
		"stream crossed the timeline switch",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
}

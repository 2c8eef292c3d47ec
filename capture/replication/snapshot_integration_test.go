package replication

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// The snapshot runs while the table is written: every row is read exactly
// once, and snapshot + stream rebuild exactly the table's final state.
func TestIntegrationSnapshotConcurrentWithWrites(t *testing.T) {
	seed := uint64(testenv.Seed(t))
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL);
		INSERT INTO t SELECT g, 0 FROM generate_series(1, 20000) g`)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	writes := 0
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(seed, 3))
		conn, err := pgx.Connect(ctx, db.DSN)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		next := 20001
		for ctx.Err() == nil {
			var err error
			switch rng.IntN(3) {
			case 0:
				_, err = conn.Exec(ctx, `INSERT INTO t VALUES ($1, 1)`, next)
				next++
			case 1:
				_, err = conn.Exec(ctx, `UPDATE t SET v = v + 1 WHERE id = $1`, 1+rng.IntN(next-1))
			case 2:
				_, err = conn.Exec(ctx, `DELETE FROM t WHERE id = $1`, 1+rng.IntN(next-1))
			}
			if err != nil {
				return
			}
			writes++
		}
	})
	c := &collector{confirm: true}
	cfg := testConfig(db, "t")
	cfg.Snapshot.ChunkRows = 500 // many pages while writes go on
	rr := start(t, cfg, c, nil)
	testenv.Await(t, 60*time.Second, "snapshot end", func() (bool, error) {
		if done, err := rr.exited(); done {
			t.Fatalf("Run returned: %v", err)
		}
		return c.count(isMarker(capture.MarkerSnapshotEnd)) == 1, nil
	})
	time.Sleep(200 * time.Millisecond) // some writes after the snapshot too
	cancel()
	wg.Wait()
	end := testenv.QueryValue[string](t, db, "SELECT pg_current_wal_lsn()::text")
	endLSN, _ := capture.ParseLSN(end)
	db.Exec(t, `INSERT INTO t VALUES (-1, -1)`) // a last commit to wait for
	testenv.Await(t, 60*time.Second, "stream caught up", func() (bool, error) {
		for _, ch := range c.changes() {
			if ch.Op == capture.OpInsert && ch.FinalLSN > endLSN && intValue(t, ch.New[0]) == -1 {
				return true, nil
			}
		}
		return false, nil
	})

	state := make(map[int64]int64)
	read := make(map[int64]bool)
	for _, ch := range c.changes() {
		switch ch.Op {
		case capture.OpRead:
			id := intValue(t, ch.New[0])
			if read[id] {
				t.Fatalf("row %d read twice by the snapshot", id)
			}
			read[id] = true
			state[id] = intValue(t, ch.New[1])
		case capture.OpInsert, capture.OpUpdate:
			state[intValue(t, ch.New[0])] = intValue(t, ch.New[1])
		case capture.OpDelete:
			delete(state, intValue(t, ch.Old[0]))
		}
	}
	rows, err := db.Conn(t).Query(t.Context(), "SELECT id, v FROM t")
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[int64]int64)
	for rows.Next() {
		var id, v int64
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		want[id] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(state) != len(want) {
		t.Errorf("rebuilt %d rows, table has %d", len(state), len(want))
	}
	bad := 0
	for id, v := range want {
		if got, ok := state[id]; !ok || got != v {
			if bad++; bad <= 5 {
				t.Errorf("row %d: rebuilt %v (present %v), table has %d", id, got, ok, v)
			}
		}
	}
	t.Logf("%d snapshot rows, %d concurrent writes, %d rows at the end", len(read), writes, len(want))
	if writes == 0 {
		t.Error("no concurrent writes happened")
	}
}

func TestIntegrationSnapshotModes(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 5)`)

	// initial_only: the snapshot, then Run returns nil and no slot remains.
	c := &collector{}
	cfg := testConfig(db, "t")
	cfg.SnapshotMode = SnapshotInitialOnly
	rr := start(t, cfg, c, nil)
	if err := rr.wait(t, 60*time.Second); err != nil {
		t.Fatalf("Run = %v, want nil after the snapshot", err)
	}
	if n := len(c.changes()); n != 5 || c.count(isMarker(capture.MarkerSnapshotEnd)) != 1 {
		t.Errorf("initial_only handed on %d rows", n)
	}
	testenv.Await(t, 10*time.Second, "no slot left", func() (bool, error) {
		return testenv.QueryValue[int64](t, db, "SELECT count(*) FROM pg_replication_slots") == 0, nil
	})
	if n := testenv.QueryValue[int64](t, db, "SELECT count(*) FROM pg_publication"); n != 0 {
		t.Errorf("initial_only created %d publications, want 0", n)
	}

	// temporary: snapshot and stream; the slot goes with the Reader.
	c2 := &collector{confirm: true}
	cfg2 := testConfig(db, "t")
	cfg2.Temporary = true
	rr2 := start(t, cfg2, c2, nil)
	testenv.Await(t, 30*time.Second, "snapshot", func() (bool, error) {
		return c2.count(isMarker(capture.MarkerSnapshotEnd)) == 1, nil
	})
	db.Exec(t, `INSERT INTO t VALUES (6)`)
	awaitChanges(t, rr2, 6)
	if tmp := testenv.QueryValue[bool](t, db, "SELECT temporary FROM pg_replication_slots WHERE slot_name = 'cdcflow'"); !tmp {
		t.Error("slot is not temporary")
	}
	if err := rr2.stop(t); err != nil {
		t.Fatal(err)
	}
	testenv.Await(t, 10*time.Second, "temporary slot gone", func() (bool, error) {
		return testenv.QueryValue[int64](t, db, "SELECT count(*) FROM pg_replication_slots") == 0, nil
	})
}

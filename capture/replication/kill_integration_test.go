package replication

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

const helperEnv = "REPLICATION_TEST_HELPER_DSN"

// TestHelperProcess is not a test: the kill -9 tests run the test binary
// again as a capturing process that prints what it is handed ("row <id>",
// "commit <end lsn>"), flushes stdout and then confirms, as cdcflow tail does.
func TestHelperProcess(t *testing.T) {
	dsn := os.Getenv(helperEnv)
	if dsn == "" {
		t.Skip("helper process of the kill -9 tests")
	}
	r, err := New(Config{
		DSN: dsn, Tables: []string{"t"}, SnapshotMode: SnapshotNever,
		HeartbeatInterval: 200 * time.Millisecond, StatusInterval: 500 * time.Millisecond,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		WALSenderTimeout: -1, // the server's: a test may shorten it
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	err = r.Run(context.Background(), func(_ context.Context, msgs []capture.Message) error {
		for _, m := range msgs {
			switch m := m.(type) {
			case *capture.Connected:
				fmt.Fprintf(w, "connected %s\n", m.StartLSN)
			case *capture.Change:
				fmt.Fprintf(w, "row %d\n", m.New[0].Data)
			case *capture.Commit:
				fmt.Fprintf(w, "commit %s\n", m.EndLSN)
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if p := capture.Confirmable(msgs); p != 0 {
			r.Confirm(p)
		}
		return nil
	})
	t.Fatalf("Run: %v", err)
}

// helper is a capturing process started by a test.
type helper struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []string
	done chan struct{}
}

func startHelper(t *testing.T, dsn string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dsn)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.mu.Lock()
			h.out = append(h.out, sc.Text())
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() { h.kill(t) })
	testenv.Await(t, 30*time.Second, "helper connected", func() (bool, error) {
		return len(h.lines("connected")) > 0, nil
	})
	return h
}

// kill sends SIGKILL and waits for the process and its output.
func (h *helper) kill(t *testing.T) {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Kill()
	<-h.done
	_ = h.cmd.Wait()
}

// lines returns the fields after prefix of the lines starting with it.
func (h *helper) lines(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range h.out {
		if rest, ok := strings.CutPrefix(l, prefix+" "); ok {
			out = append(out, rest)
		}
	}
	return out
}

func (h *helper) rows() []int {
	var ids []int
	for _, s := range h.lines("row") {
		n, _ := strconv.Atoi(s)
		ids = append(ids, n)
	}
	return ids
}

// kill -9 right after a checkpoint: the restarted process does not get the
// last confirmed transaction again, and gets everything after it.
func TestIntegrationKillAfterCheckpoint(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	a := startHelper(t, db.DSN)
	for i := 1; i <= 5; i++ {
		db.Exec(t, `INSERT INTO t VALUES ($1)`, i)
	}
	var last capture.LSN
	testenv.Await(t, 30*time.Second, "5 rows printed and their commit confirmed", func() (bool, error) {
		commits := a.lines("commit")
		if len(a.rows()) < 5 || len(commits) < 5 {
			return false, nil
		}
		var err error
		if last, err = capture.ParseLSN(commits[len(commits)-1]); err != nil {
			return false, err
		}
		return slotConfirmed(t, db, "cdcflow") >= last, nil
	})
	a.kill(t)
	db.Exec(t, `INSERT INTO t VALUES (6)`)
	b := startHelper(t, db.DSN)
	testenv.Await(t, 30*time.Second, "row 6", func() (bool, error) { return len(b.rows()) >= 1, nil })
	if got := fmt.Sprint(b.rows()); got != "[6]" {
		t.Fatalf("after the restart got rows %s, want [6]", got)
	}
}

// kill -9 at random moments while rows are written: no row is lost.
func TestIntegrationKillAtRandom(t *testing.T) {
	seed := uint64(testenv.Seed(t))
	rng := rand.New(rand.NewPCG(seed, 1))
	wrng := rand.New(rand.NewPCG(seed, 2)) // the writer's
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	seen := make(map[int]bool)
	collect := func(h *helper) {
		for _, id := range h.rows() {
			seen[id] = true
		}
	}
	// The first process creates the slot: rows before it are not captured.
	h := startHelper(t, db.DSN)
	ctx, cancel := context.WithCancel(t.Context())
	var written int
	var wg sync.WaitGroup
	wg.Go(func() {
		conn, err := pgx.Connect(ctx, db.DSN)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			// Transactions of 1-20 rows.
			n := 1 + wrng.IntN(20)
			if _, err := conn.Exec(ctx, `INSERT INTO t SELECT generate_series($1::int, $2::int)`, written+1, written+n); err != nil {
				return
			}
			written += n
		}
	})
	for range 4 {
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		h.kill(t)
		collect(h)
		h = startHelper(t, db.DSN)
	}
	cancel()
	wg.Wait()
	if written == 0 {
		t.Fatal("no rows written")
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < written && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		collect(h)
	}
	var missing []int
	for id := 1; id <= written; id++ {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d rows lost, first %v", len(missing), written, missing[:min(len(missing), 10)])
	}
	t.Logf("%d rows in 5 processes, 4 of them killed", written)
}

// A process that hangs (SIGSTOP) keeps its walsender, and the slot, active:
// a new Reader retries "slot is active" until wal_sender_timeout ends the old
// walsender, then streams.
func TestIntegrationSlotActiveRetriedUntilOldWalsenderTimesOut(t *testing.T) {
	pg := testenv.NewPostgres(t, map[string]string{"wal_sender_timeout": "3s"})
	db := pg.NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	a := startHelper(t, db.DSN)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	c := &collector{confirm: true}
	cfg := testConfig(db, "t")
	cfg.SnapshotMode = SnapshotNever
	began := time.Now()
	rr := start(t, cfg, c, nil)
	testenv.Await(t, 60*time.Second, "the new Reader connected", func() (bool, error) {
		if done, err := rr.exited(); done {
			t.Fatalf("Run returned: %v", err)
		}
		return c.count(isConnected) == 1, nil
	})
	t.Logf("took over the slot after %s", time.Since(began).Round(100*time.Millisecond))
	db.Exec(t, `INSERT INTO t VALUES (1)`)
	awaitChanges(t, rr, 1)
}

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// tailProcess is a "cdcflow tail" subprocess and the JSON lines it printed.
type tailProcess struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	done  chan struct{}
}

func startTail(t *testing.T, config string) *tailProcess {
	t.Helper()
	cmd := exec.Command(testenv.Cdcflow(t), "tail", "--config", config)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &tailProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				line = map[string]any{"type": "unparsable", "text": sc.Text()}
			}
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *tailProcess) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	_ = p.cmd.Wait()
}

// of returns the printed lines of a type.
func (p *tailProcess) of(typ string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["type"] == typ {
			out = append(out, l)
		}
	}
	return out
}

// kill -9 of "cdcflow tail" right after it confirmed a transaction: the
// restarted tail neither prints it again nor misses what came after.
func TestIntegrationTailKillAfterCheckpoint(t *testing.T) {
	db := testenv.Postgres(t).NewDatabase(t)
	db.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')`)
	config := filepath.Join(t.TempDir(), "cdcflow.yaml")
	yaml := fmt.Sprintf("version: 1\nsource:\n  dsn: %q\ncapture:\n  tables: [public.t]\n  heartbeat_interval: 200ms\n  status_interval: 1s\n", db.DSN)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	a := startTail(t, config)
	testenv.Await(t, 60*time.Second, "snapshot printed", func() (bool, error) {
		return len(a.of("snapshot_end")) == 1 && len(a.of("read")) == 2, nil
	})
	db.Exec(t, `BEGIN; INSERT INTO t VALUES (3, 'c'), (4, 'd'); UPDATE t SET v = 'z' WHERE id = 1; COMMIT`)
	var end capture.LSN
	testenv.Await(t, 30*time.Second, "commit printed and confirmed", func() (bool, error) {
		commits := a.of("commit")
		if len(commits) == 0 {
			return false, nil
		}
		var err error
		if end, err = capture.ParseLSN(commits[0]["end_lsn"].(string)); err != nil {
			return false, err
		}
		confirmed := testenv.QueryValue[string](t, db, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'cdcflow'")
		lsn, err := capture.ParseLSN(confirmed)
		return lsn >= end, err
	})
	a.kill()
	db.Exec(t, `INSERT INTO t VALUES (5, 'e')`)

	b := startTail(t, config)
	testenv.Await(t, 30*time.Second, "the insert after the restart", func() (bool, error) {
		return len(b.of("insert")) >= 1, nil
	})
	if n := len(b.of("read")) + len(b.of("update")); n != 0 {
		t.Errorf("restarted tail printed %d snapshot rows or updates again", n)
	}
	ins := b.of("insert")
	if len(ins) != 1 || ins[0]["new"].(map[string]any)["id"] != float64(5) {
		t.Errorf("restarted tail printed inserts %v, want only id 5", ins)
	}
	if c := b.of("connected"); len(c) != 1 || c[0]["start_lsn"] == "" {
		t.Errorf("connected lines %v", c)
	}
}

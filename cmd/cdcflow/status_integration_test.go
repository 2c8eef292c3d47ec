package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/status"
	"github.com/cdcflow/cdcflow/internal/testenv"
)

// cdcflowStatus runs `cdcflow status` with env and args and returns its
// standard output and exit code.
func cdcflowStatus(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), testenv.Cdcflow(t), append([]string{"status"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cdcflow status: %v", err)
	}
	if code != 0 && code != 1 {
		t.Fatalf("cdcflow status exit %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	return stdout.String(), code
}

// statusJSON runs `cdcflow status --json` and decodes what it prints.
func statusJSON(t *testing.T, env []string, args ...string) (*status.Status, int) {
	t.Helper()
	out, code := cdcflowStatus(t, env, append([]string{"--json"}, args...)...)
	var s status.Status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("cdcflow status --json printed no JSON (%v):\n%s", err, out)
	}
	return &s, code
}

// checkPositions checks that the positions flow in order: PostgreSQL's
// current WAL at or past the slot and every topic, each view partition
// applied no further than its topic holds, and every view partition's
// records behind equal to what Kafka holds past its offset.
func checkPositions(t *testing.T, s *status.Status, topics []string) {
	t.Helper()
	stages := map[string][]status.Position{}
	for _, p := range s.Positions {
		stages[p.Stage] = append(stages[p.Stage], p)
	}
	if len(stages["postgresql"]) != 1 || len(stages["slot"]) != 1 {
		t.Fatalf("positions = %+v; want one postgresql and one slot", s.Positions)
	}
	pg, slot := stages["postgresql"][0], stages["slot"][0]
	if pg.WAL == 0 || slot.WAL == 0 || pg.WAL < slot.WAL {
		t.Errorf("postgresql %s, slot %s: want postgresql >= slot > 0", pg.LSN, slot.LSN)
	}
	if slot.BehindBytes == nil || *slot.BehindBytes != int64(pg.WAL-slot.WAL) {
		t.Errorf("slot behind %v bytes; want %d", slot.BehindBytes, pg.WAL-slot.WAL)
	}
	kafkaWAL := map[string]uint64{}
	for _, k := range stages["kafka"] {
		if k.WAL == 0 || k.WAL > pg.WAL {
			t.Errorf("kafka %s at %s; want a position in (0, postgresql %s]", k.Topic, k.LSN, pg.LSN)
		}
		kafkaWAL[k.Topic] = k.WAL
	}
	for _, topic := range topics {
		if _, ok := kafkaWAL[topic]; !ok {
			t.Errorf("no kafka position for topic %s in %+v", topic, stages["kafka"])
		}
	}
	if len(stages["view"]) == 0 {
		t.Fatal("no view positions")
	}
	for _, v := range stages["view"] {
		if v.Partition == nil || v.Generation < 1 || v.Offset == nil || v.BehindRecords == nil || *v.BehindRecords < 0 {
			t.Errorf("view position %+v: want partition, generation, offset and records behind", v)
			continue
		}
		if v.WAL > kafkaWAL[v.Topic] {
			t.Errorf("view %s[%d] at %s, past what kafka holds", v.Topic, *v.Partition, v.LSN)
		}
	}
}

// line returns the line named name, failing the test when there is none.
func line(t *testing.T, s *status.Status, name string) status.Line {
	t.Helper()
	for _, l := range s.Lines {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("no line %q in %+v", name, s.Lines)
	return status.Line{}
}

// thresholdsWith writes the built-in thresholds file with the value of key
// under section replaced, and returns its path.
func thresholdsWith(t *testing.T, section string, values string) string {
	t.Helper()
	src, err := os.ReadFile("../../internal/thresholds/thresholds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + section + `:\n(  .*\n)+`)
	if !re.Match(src) {
		t.Fatalf("no section %s in the thresholds file", section)
	}
	p := filepath.Join(t.TempDir(), "thresholds.yaml")
	if err := os.WriteFile(p, re.ReplaceAll(src, []byte(section+":\n"+values)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIntegrationStatus: `cdcflow status` beside a running `cdcflow run`
// (embedded broker, views, metrics) shows every stage in order with the
// live figures; once run stops it opens the data directory's broker itself;
// a threshold breached gives a fail and exit status 1.
func TestIntegrationStatus(t *testing.T) {
	s := newViewsE2E(t, viewsE2EOptions{inRun: true})
	s.awaitEqual(90*time.Second, "after the snapshot")
	topics := []string{"shop.order"}

	live, code := statusJSON(t, s.env)
	if code != 0 || live.Verdict == status.Fail {
		t.Fatalf("status beside a healthy run: exit %d, verdict %s: %+v", code, live.Verdict, live.Lines)
	}
	checkPositions(t, live, topics)
	if live.Live == nil || live.Live.Command != "run" || live.Live.Ready == nil || !*live.Live.Ready {
		t.Errorf("live = %+v; want run's figures, ready", live.Live)
	}
	if l := line(t, live, "slot active"); l.Verdict != status.OK || !strings.Contains(l.Value, "active, pid") {
		t.Errorf("slot active = %+v; want ok, with the pid", l)
	}
	if l := line(t, live, "slot lag"); !strings.Contains(l.Value, "s behind") || l.Threshold == "" {
		t.Errorf("slot lag = %+v; want seconds behind from the live process, with the threshold", l)
	}
	screen, code := cdcflowStatus(t, s.env)
	for _, want := range []string{"positions (PostgreSQL → slot → Kafka → views)", "postgresql", "shop.order[0] g1", "ok  ", "slot retained WAL"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if code != 0 {
		t.Errorf("screen: exit %d", code)
	}

	// Stopped: no live figures, the embedded broker opened from the data
	// directory, the slot inactive (a warning, not a failure).
	s.stop()
	stopped, code := statusJSON(t, s.env)
	if code != 0 || stopped.Verdict == status.Fail {
		t.Fatalf("status of a stopped pipeline: exit %d, verdict %s: %+v", code, stopped.Verdict, stopped.Lines)
	}
	if stopped.Live != nil {
		t.Errorf("live = %+v with run stopped; want none", stopped.Live)
	}
	checkPositions(t, stopped, topics)
	if l := line(t, stopped, "slot active"); l.Verdict != status.Warn {
		t.Errorf("slot active with run stopped = %+v; want warn", l)
	}
	if l := line(t, stopped, "process"); !strings.Contains(l.Value, "not running") {
		t.Errorf("process = %+v; want not running", l)
	}
	for _, v := range stopped.Positions {
		if v.Stage == "view" && *v.BehindRecords != 0 {
			t.Errorf("view %s[%d] %d records behind after the views caught up and run stopped", v.Topic, *v.Partition, *v.BehindRecords)
		}
	}
	// The slot held back while run is stopped retains the WAL written
	// meanwhile: past a threshold of 2KiB, a fail and exit status 1.
	s.db.Exec(t, `CREATE TABLE status_pad AS SELECT g FROM generate_series(1, 10000) g`)
	th := thresholdsWith(t, "slot_retained_wal", "  warn: 1KiB\n  fail: 2KiB\n  growing: 30m\n  for: 10m\n")
	failed, code := statusJSON(t, s.env, "--thresholds", th)
	if code != 1 || failed.Verdict != status.Fail || line(t, failed, "slot retained WAL").Verdict != status.Fail {
		t.Errorf("with fail > 2KiB: exit %d, verdict %s, %+v; want exit 1 and a failed retained WAL", code, failed.Verdict, line(t, failed, "slot retained WAL"))
	}

}

// TestIntegrationStatusBrokers: with kafka.brokers and run stopped, status
// reads Kafka through the brokers.
func TestIntegrationStatusBrokers(t *testing.T) {
	s := newViewsE2E(t, viewsE2EOptions{})
	s.awaitEqual(90*time.Second, "after the snapshot")
	s.stop()
	st, code := statusJSON(t, s.env)
	if code != 0 || st.Verdict == status.Fail {
		t.Fatalf("exit %d, verdict %s: %+v", code, st.Verdict, st.Lines)
	}
	checkPositions(t, st, []string{"shop.order"})
	if l := line(t, st, "topic shop.order"); l.Verdict != status.OK || !strings.Contains(l.Value, "3 partition(s)") {
		t.Errorf("topic line = %+v; want ok, 3 partitions", l)
	}

	// A replay interrupted after its first record leaves generation 2's
	// offsets beside the live generation 1: status reports it.
	var prefix string
	for _, e := range s.env {
		if v, ok := strings.CutPrefix(e, "CDCFLOW_VIEWS_PREFIX="); ok {
			prefix = v
		}
	}
	if err := s.rdb.HSet(t.Context(), prefix+"{p0}:g2:offsets", "shop.order", 1).Err(); err != nil {
		t.Fatal(err)
	}
	st, _ = statusJSON(t, s.env)
	if l := line(t, st, "replay generation 2"); !strings.HasPrefix(l.Value, "1 of ") {
		t.Errorf("replay line = %+v; want 1 record applied", l)
	}
}

package status

import (
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/thresholds"
)

// The live process's lines: a snapshot that stopped progressing and a
// heartbeat too old are judged by their thresholds.
func TestProcessLines(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *time.Time { t := now.Add(-ago); return &t }
	ready := false
	th := thresholds.Default()
	tests := []struct {
		name      string
		live      *Live
		line      string
		want      Verdict
		valuePart string
	}{
		{"no process", nil, "process", OK, "not running"},
		{"not ready", &Live{Command: "run", Ready: &ready}, "ready", Warn, "not ready"},
		{"heartbeat fresh", &Live{LastHeartbeat: at(th.HeartbeatAge.Warn)}, "heartbeat age", OK, ""},
		{"heartbeat old", &Live{LastHeartbeat: at(th.HeartbeatAge.Fail + time.Second)}, "heartbeat age", Fail, ""},
		{"snapshot moving", &Live{Snapshot: &Snapshot{TablesRemaining: 1, Rows: 500, RowsRemaining: 1000, Rate: 100, LastProgress: at(time.Second)}},
			"snapshot", OK, "ETA 10s"},
		{"snapshot stalled", &Live{Snapshot: &Snapshot{TablesRemaining: 1, LastProgress: at(th.SnapshotStall.Fail + time.Second)}},
			"snapshot", Fail, "1 tables left"},
		{"source retrying", &Live{RetryingSince: at(th.SourceRetrying.Warn + time.Second)}, "source retrying", Warn, "reconnecting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gatherer{cfg: Config{MetricsAddr: "127.0.0.1:9102"}, th: th, s: &Status{Time: now, Live: tt.live}}
			g.process()
			for _, l := range g.s.Lines {
				if l.Name != tt.line {
					continue
				}
				if l.Verdict != tt.want || !strings.Contains(l.Value, tt.valuePart) {
					t.Errorf("%s = %+v; want %s with %q", tt.line, l, tt.want, tt.valuePart)
				}
				return
			}
			t.Errorf("no line %q in %+v", tt.line, g.s.Lines)
		})
	}
}

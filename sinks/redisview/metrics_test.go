package redisview

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// counterValue returns the value of the series of name whose label has value.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.addApplied("v", 1)
	m.addSkipped("a")
	m.addDeadLetter("t")
	m.setLag("t", 0, 1)
	m.setReplay(1, 2)
	m.setLastEvent(0, time.Now())
	m.addConflict()
	m.addFenced("t")
	m.observeApply(0)
}

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Staleness is computed at scrape time from the newest commit time applied
// per partition, so it grows while nothing is applied; an older event never
// moves it back.
func TestStalenessSeconds(t *testing.T) {
	reg := newTestRegistry()
	m := NewMetrics(reg)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	m.staleness.now = func() time.Time { return now }
	m.setLastEvent(0, now.Add(-10*time.Second))
	m.setLastEvent(0, now.Add(-30*time.Second)) // older: ignored
	m.setLastEvent(3, now.Add(-2*time.Second))
	m.setLastEvent(4, time.Time{}) // no commit time: no series
	tests := []struct {
		partition string
		want      float64
	}{{"0", 10}, {"3", 2}, {"4", 0}}
	for _, tt := range tests {
		if got := counterValue(t, reg, "cdcflow_views_staleness_seconds", "partition", tt.partition); got != tt.want {
			t.Errorf("staleness{partition=%s} = %v; want %v", tt.partition, got, tt.want)
		}
	}
	now = now.Add(5 * time.Second) // nothing applied meanwhile
	if got := counterValue(t, reg, "cdcflow_views_staleness_seconds", "partition", "0"); got != 15 {
		t.Errorf("staleness{partition=0} 5s later = %v; want 15", got)
	}
	if n := testutil.CollectAndCount(m.staleness); n != 2 {
		t.Errorf("staleness series = %d; want 2 (partitions 0 and 3)", n)
	}
}

// The replay's progress stamp moves when the replay starts and when done
// moves, not when a poll applied nothing.
func TestReplayLastProgress(t *testing.T) {
	m := NewMetrics(newTestRegistry())
	m.setReplay(0, 10)
	if testutil.ToFloat64(m.replayLast) == 0 {
		t.Fatal("replay start left no progress stamp")
	}
	m.replayLast.Set(1)
	m.setReplay(0, 10)
	if got := testutil.ToFloat64(m.replayLast); got != 1 {
		t.Errorf("stamp after a poll that applied nothing = %v; want unchanged (1)", got)
	}
	m.setReplay(4, 10)
	if got := testutil.ToFloat64(m.replayLast); got <= 1 {
		t.Errorf("stamp after progress = %v; want now", got)
	}
}

// The per-topic and per-aggregate counters are exported at 0 for every
// consumed topic and aggregate type.
func TestTopicsExportedAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.initTopics([]string{"shop.order", "shop.customer"})
	m.initAggregates([]string{"order", "customer"})
	for _, name := range []string{"cdcflow_views_dead_letters_total", "cdcflow_views_fenced_total", "cdcflow_views_events_skipped_total"} {
		if got, err := testutil.GatherAndCount(reg, name); err != nil || got != 2 {
			t.Errorf("series of %s = %d, %v; want 2 at 0", name, got, err)
		}
	}
}

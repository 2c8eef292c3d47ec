package redisview

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
	m.addConflict()
	m.addFenced("t")
	m.observeApply(0)
}

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

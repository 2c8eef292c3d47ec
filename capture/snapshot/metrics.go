package snapshot

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds the snapshot metrics. A nil *Metrics records nothing.
// Its methods are safe for concurrent use.
type Metrics struct {
	rows            *prometheus.CounterVec
	rowsEstimated   *prometheus.GaugeVec
	tablesRemaining prometheus.Gauge
}

// NewMetrics creates the snapshot metrics and registers them with reg.
// It panics if they are already registered with reg, as promauto does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		rows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_capture_snapshot_rows_total",
			Help: "Rows read by the initial snapshot and handed on, by table.",
		}, []string{"table"}),
		rowsEstimated: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cdcflow_capture_snapshot_rows_estimated",
			Help: "Rows a table being snapshotted is estimated to hold (from pg_class.reltuples).",
		}, []string{"table"}),
		tablesRemaining: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_snapshot_tables_remaining",
			Help: "Tables of the running snapshots not yet read to the end.",
		}),
	}
}

func (m *Metrics) addRows(table string, n int) {
	if m != nil && n > 0 {
		m.rows.WithLabelValues(table).Add(float64(n))
	}
}

func (m *Metrics) setEstimated(table string, n int64) {
	if m != nil {
		m.rowsEstimated.WithLabelValues(table).Set(float64(n))
	}
}

func (m *Metrics) addTablesRemaining(n int) {
	if m != nil {
		m.tablesRemaining.Add(float64(n))
	}
}

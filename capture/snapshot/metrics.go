package snapshot

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds the snapshot metrics. A nil *Metrics records nothing.
// Its methods are safe for concurrent use.
type Metrics struct {
	rows            *prometheus.CounterVec
	rowsEstimated   *prometheus.GaugeVec
	tablesRemaining prometheus.Gauge
	rowsRemaining   prometheus.Gauge
	lastProgress    prometheus.Gauge

	mu   sync.Mutex
	left map[string]int64 // estimated rows not yet read, by table of a running snapshot
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
		rowsRemaining: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_snapshot_rows_remaining",
			Help: "Rows the running snapshots are estimated to have left to read (pg_class.reltuples minus rows read, per table not yet finished).",
		}),
		lastProgress: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_snapshot_last_progress_timestamp_seconds",
			Help: "When (Unix time) a snapshot last handed on rows or began or finished a table; 0 before any snapshot.",
		}),
		left: map[string]int64{},
	}
}

// start counts the estimates of a snapshot's tables as remaining rows.
func (m *Metrics) start(ts []*table) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range ts {
		n := max(t.estimate, 0)
		m.left[t.label] += n
		m.rowsRemaining.Add(float64(n))
	}
	m.progressed()
}

// read takes n rows of table off the remaining rows, never below 0 for the
// table (an estimate can be short).
func (m *Metrics) read(table string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	take := min(n, m.left[table])
	m.left[table] -= take
	m.rowsRemaining.Sub(float64(take))
	m.progressed()
}

// finish drops what is left of the estimates of ts: the tables are read
// (or the snapshot stopped).
func (m *Metrics) finish(ts ...*table) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range ts {
		m.rowsRemaining.Sub(float64(m.left[t.label]))
		delete(m.left, t.label)
	}
	m.progressed()
}

// progressed stamps the last progress time; m.mu is held.
func (m *Metrics) progressed() {
	m.lastProgress.Set(float64(time.Now().UnixNano()) / 1e9)
}

func (m *Metrics) addRows(table string, n int) {
	if m != nil && n > 0 {
		m.rows.WithLabelValues(table).Add(float64(n))
		m.read(table, int64(n))
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

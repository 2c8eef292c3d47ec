package flow

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds the mapping stage's metrics (listed in the package
// documentation). A nil *Metrics records nothing. Its methods are safe for
// concurrent use.
type Metrics struct {
	workers      prometheus.Gauge
	busySeconds  prometheus.Counter
	chunks       prometheus.Gauge
	bytes        prometheus.Gauge
	seqWait      prometheus.Counter
	handoffBlock prometheus.Counter
}

// NewMetrics creates the mapping stage's metrics and registers them with
// reg. It panics if they are already registered with reg, as promauto does;
// a nil reg creates unregistered metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		workers: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_flow_map_workers",
			Help: "Goroutines that map and encode chunks in parallel.",
		}),
		busySeconds: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_flow_map_busy_seconds_total",
			Help: "Time the mapping workers spent mapping and encoding, summed over the workers.",
		}),
		chunks: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_flow_map_chunks_in_flight",
			Help: "Chunks handed to the mapping workers and not yet queued for Kafka.",
		}),
		bytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_flow_map_bytes_in_flight",
			Help: "Estimated bytes of the decoded chunks in flight in the mapping stage (bounded by its budget).",
		}),
		seqWait: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_flow_map_sequence_wait_seconds_total",
			Help: "Time the sequencer waited for the next chunk in stream order to be mapped.",
		}),
		handoffBlock: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_flow_map_handoff_blocked_seconds_total",
			Help: "Time capture's handler waited for room in the mapping stage (WAL reading paused).",
		}),
	}
}

func (m *Metrics) setWorkers(n int) {
	if m == nil {
		return
	}
	m.workers.Set(float64(n))
}

func (m *Metrics) addBusy(d time.Duration) {
	if m == nil {
		return
	}
	m.busySeconds.Add(d.Seconds())
}

// inFlight adds (or, negative, removes) chunks and their bytes in flight.
func (m *Metrics) inFlight(chunks int, bytes int64) {
	if m == nil {
		return
	}
	m.chunks.Add(float64(chunks))
	m.bytes.Add(float64(bytes))
}

func (m *Metrics) addSequenceWait(d time.Duration) {
	if m == nil {
		return
	}
	m.seqWait.Add(d.Seconds())
}

func (m *Metrics) addHandoffBlocked(d time.Duration) {
	if m == nil {
		return
	}
	m.handoffBlock.Add(d.Seconds())
}

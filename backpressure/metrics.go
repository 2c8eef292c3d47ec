package backpressure

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds the package's Prometheus metrics. A nil *Metrics is valid and
// records nothing. One Metrics is meant to be shared by the Queue, Watermark
// and retry loops of one pipeline.
type Metrics struct {
	queueBytes     prometheus.Gauge
	queueRecords   prometheus.Gauge
	blockedSeconds prometheus.Counter
	watermark      prometheus.Gauge
	inflight       prometheus.Gauge
	retries        *prometheus.CounterVec
}

// NewMetrics creates the metrics listed in the package documentation and
// registers them with reg. It panics if they are already registered with reg,
// as promauto does; a nil reg creates unregistered metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		queueBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_backpressure_queue_bytes",
			Help: "Bytes held by the queue between capture and the sink.",
		}),
		queueRecords: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_backpressure_queue_records",
			Help: "Items held by the queue between capture and the sink.",
		}),
		blockedSeconds: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_backpressure_blocked_seconds_total",
			Help: "Time Put spent waiting for room in the queue.",
		}),
		watermark: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_backpressure_watermark_lsn",
			Help: "Highest source position whose items and all earlier ones are acknowledged.",
		}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_backpressure_inflight_records",
			Help: "Items tracked by the watermark and not yet confirmed.",
		}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_backpressure_retries_total",
			Help: "Retries of failed operations, by operation.",
		}, []string{"op"}),
	}
}

func (m *Metrics) setQueue(bytes int64, records int) {
	if m == nil {
		return
	}
	m.queueBytes.Set(float64(bytes))
	m.queueRecords.Set(float64(records))
}

func (m *Metrics) addBlocked(d time.Duration) {
	if m == nil {
		return
	}
	m.blockedSeconds.Add(d.Seconds())
}

func (m *Metrics) setWatermark(pos uint64, inflight int) {
	if m == nil {
		return
	}
	m.watermark.Set(float64(pos))
	m.inflight.Set(float64(inflight))
}

func (m *Metrics) incRetries(op string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(op).Inc()
}

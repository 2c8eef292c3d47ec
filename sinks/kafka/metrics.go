package kafka

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/plugin/kprom"
)

// clientMetrics returns franz-go's kprom hooks, registered with reg under
// cdcflow_kafka_client_*, with compressed and uncompressed byte counts so
// that the compression ratio can be watched.
func clientMetrics(reg prometheus.Registerer) *kprom.Metrics {
	return kprom.NewMetrics("cdcflow",
		kprom.Subsystem("kafka_client"),
		kprom.Registerer(reg),
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Batches, kprom.Records,
			kprom.CompressedBytes, kprom.UncompressedBytes, kprom.ConsistentNaming),
	)
}

// Metrics holds the publisher's Prometheus metrics. A nil *Metrics is valid
// and records nothing. The franz-go client's own metrics come from kprom and
// are registered by New.
type Metrics struct {
	records     *prometheus.CounterVec
	events      *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	retries     prometheus.Counter
	skips       prometheus.Counter
	latency     prometheus.Histogram
	inflightRec prometheus.Gauge
	inflightB   prometheus.Gauge
	errors      *prometheus.CounterVec
	lastAck     prometheus.Gauge
}

// NewMetrics creates the metrics listed in the package documentation and
// registers them with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		records: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_kafka_records_total",
			Help: "Records acknowledged by Kafka, by topic.",
		}, []string{"topic"}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_kafka_events_total",
			Help: "Events acknowledged by Kafka, by topic and CloudEvents type; a control record counts once, not once per partition.",
		}, []string{"topic", "type"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_kafka_bytes_total",
			Help: "Bytes (key, value, headers) acknowledged by Kafka, by topic.",
		}, []string{"topic"}),
		deadLetters: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_kafka_dead_letters_total",
			Help: "Dead-letter records acknowledged by Kafka, by kind: oversized (an event above the size cap, by reference) or unmappable (any other reason).",
		}, []string{"kind"}),
		retries: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_kafka_retries_total",
			Help: "Backoffs the Kafka client waited before retrying after a transient error (a produce request failed with a retriable error code or timed out, a broker unreachable, a metadata load failed).",
		}),
		skips: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_kafka_records_skipped_total",
			Help: "Records not produced again after a restart because their partition already held them (at-least-once resume).",
		}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "cdcflow_kafka_commit_to_ack_seconds",
			Help:    "Time from the source transaction's commit to Kafka's acknowledgement of its batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms to about 33 s
		}),
		inflightRec: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_kafka_inflight_records",
			Help: "Records produced and not yet acknowledged.",
		}),
		inflightB: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_kafka_inflight_bytes",
			Help: "Bytes produced and not yet acknowledged.",
		}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_kafka_errors_total",
			Help: "Failed records, by kind: retryable, fatal, too_large, canceled.",
		}, []string{"kind"}),
		lastAck: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_kafka_last_ack_timestamp_seconds",
			Help: "When (Unix time) Kafka last acknowledged a record; 0 before the first.",
		}),
	}
	// Every kind is exported from the start (at 0), so that a dashboard
	// finds the series and an alert's increase() sees the first one.
	for _, k := range []string{"oversized", "unmappable"} {
		m.deadLetters.WithLabelValues(k)
	}
	for _, k := range []string{"retryable", "fatal", "too_large", "canceled"} {
		m.errors.WithLabelValues(k)
	}
	return m
}

func (m *Metrics) produced(records, bytes int) {
	if m == nil {
		return
	}
	m.inflightRec.Add(float64(records))
	m.inflightB.Add(float64(bytes))
}

// ackedRecord describes an acknowledged (or failed) kgo record for the
// metrics.
type ackedRecord struct {
	topic string
	typ   string // the CloudEvents type
	bytes int
	// first is false for the copies of a control record after the one of
	// partition 0, so that events count once.
	first bool
	// deadLetter is "" or the dead letter's kind label.
	deadLetter string
}

// ackedRec counts an acknowledged (or failed) record.
func (m *Metrics) ackedRec(r ackedRecord, err error) {
	if m == nil {
		return
	}
	m.inflightRec.Dec()
	m.inflightB.Sub(float64(r.bytes))
	if err != nil {
		m.errors.WithLabelValues(errorKind(err)).Inc()
		return
	}
	m.lastAck.Set(float64(time.Now().UnixNano()) / 1e9)
	m.records.WithLabelValues(r.topic).Inc()
	m.bytes.WithLabelValues(r.topic).Add(float64(r.bytes))
	if !r.first {
		return
	}
	if r.typ != "" {
		m.events.WithLabelValues(r.topic, r.typ).Inc()
	}
	if r.deadLetter != "" {
		m.deadLetters.WithLabelValues(r.deadLetter).Inc()
	}
}

// skipped counts one record its partition already held.
func (m *Metrics) skipped() {
	if m == nil {
		return
	}
	m.skips.Inc()
}

// retried counts one backoff of the client.
func (m *Metrics) retried() {
	if m == nil {
		return
	}
	m.retries.Inc()
}

func (m *Metrics) observeLatency(d time.Duration) {
	if m == nil {
		return
	}
	m.latency.Observe(d.Seconds())
}

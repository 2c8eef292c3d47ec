package redisview

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the views' Prometheus metrics (listed in the package doc). A nil
// *Metrics records nothing. Its methods are safe for concurrent use.
type Metrics struct {
	applied      *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	applySeconds prometheus.Histogram
	lastEvent    prometheus.Gauge
	lag          *prometheus.GaugeVec
	deadLetters  *prometheus.CounterVec
	replayDone   prometheus.Gauge
	replayTotal  prometheus.Gauge
	conflicts    prometheus.Counter
	fenced       *prometheus.CounterVec
	compacted    prometheus.Counter
	appliedTime  *prometheus.GaugeVec
	appliedMu    sync.Mutex
	appliedMax   map[int32]float64
}

// NewMetrics registers the views' metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		applied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_views_events_applied_total",
			Help: "Events applied to a view: an event counts once per entity or history view it changed; an index or aggregate view counts once per aggregate and batch whose entry moved.",
		}, []string{"view"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_views_events_skipped_total",
			Help: "Events ignored because their position was not above the aggregate's stored position.",
		}, []string{"aggregate"}),
		applySeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "cdcflow_views_apply_seconds",
			Help:    "Time to apply one batch of one partition (read, project, atomic script).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		lastEvent: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_views_last_applied_event_timestamp_seconds",
			Help: "Commit time of the latest event applied; staleness is time() minus this.",
		}),
		appliedTime: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cdcflow_views_applied_commit_timestamp_seconds",
			Help: "Commit time of the newest event or progress record that moved a partition's applied source position; staleness that stays honest on an idle source is time() minus this.",
		}, []string{"partition"}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cdcflow_views_consumer_lag_records",
			Help: "Records of a partition not yet applied (high watermark minus the next offset).",
		}, []string{"topic", "partition"}),
		deadLetters: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_views_dead_letters_total",
			Help: "Records sent to the dead-letter topic because they could not be decoded or projected.",
		}, []string{"topic"}),
		replayDone: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_views_replay_events_done",
			Help: "Records a replay has applied so far.",
		}),
		replayTotal: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_views_replay_events_total",
			Help: "Records a replay has to apply (the high watermarks when it started).",
		}),
		conflicts: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_views_apply_conflicts_total",
			Help: "Batches computed again because an aggregate's stored position changed between read and write.",
		}),
		fenced: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_views_fenced_total",
			Help: "Batches refused because the partition's stored offset had moved (another consumer applied it).",
		}, []string{"topic"}),
		compacted: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_views_tombstones_compacted_total",
			Help: "Position tombstones of deleted aggregates removed once older than the horizon.",
		}),
	}
}

func (m *Metrics) observeApply(d time.Duration) {
	if m != nil {
		m.applySeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) addApplied(view string, n int) {
	if m != nil && n > 0 {
		m.applied.WithLabelValues(view).Add(float64(n))
	}
}

func (m *Metrics) addSkipped(agg string) {
	if m != nil {
		m.skipped.WithLabelValues(agg).Inc()
	}
}

func (m *Metrics) setLastEvent(t time.Time) {
	if m != nil && !t.IsZero() {
		m.lastEvent.Set(float64(t.UnixNano()) / 1e9)
	}
}

func (m *Metrics) setLag(topic string, p int32, lag int64) {
	if m != nil {
		m.lag.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(lag))
	}
}

func (m *Metrics) addDeadLetter(topic string) {
	if m != nil {
		m.deadLetters.WithLabelValues(topic).Inc()
	}
}

func (m *Metrics) setReplay(done, total int64) {
	if m != nil {
		m.replayDone.Set(float64(done))
		m.replayTotal.Set(float64(total))
	}
}

func (m *Metrics) addConflict() {
	if m != nil {
		m.conflicts.Inc()
	}
}

func (m *Metrics) addFenced(topic string) {
	if m != nil {
		m.fenced.WithLabelValues(topic).Inc()
	}
}

func (m *Metrics) addCompacted(n int) {
	if m != nil {
		m.compacted.Add(float64(n))
	}
}

// setApplied records that partition p's applied position moved (or may
// have) with a record committed at t; the gauge only moves forward.
func (m *Metrics) setApplied(p int32, t time.Time) {
	if m == nil || t.IsZero() {
		return
	}
	v := float64(t.UnixNano()) / 1e9
	m.appliedMu.Lock()
	defer m.appliedMu.Unlock()
	if v <= m.appliedMax[p] {
		return
	}
	if m.appliedMax == nil {
		m.appliedMax = map[int32]float64{}
	}
	m.appliedMax[p] = v
	m.appliedTime.WithLabelValues(strconv.Itoa(int(p))).Set(v)
}

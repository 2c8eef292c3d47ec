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
	replayLast   prometheus.Gauge
	staleness    *stalenessCollector

	replayMu      sync.Mutex
	replayStarted bool  // setReplay was called
	replayPrev    int64 // done at the last setReplay
	appliedTime   *prometheus.GaugeVec
	appliedMu     sync.Mutex
	appliedMax    map[int32]float64
}

// NewMetrics registers the views' metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	st := &stalenessCollector{
		desc: prometheus.NewDesc("cdcflow_views_staleness_seconds",
			"Time since the commit time of the newest event applied on a partition (scrape time minus it), by partition.",
			[]string{"partition"}, nil),
		newest: map[int32]time.Time{},
		now:    time.Now,
	}
	if reg != nil {
		reg.MustRegister(st)
	}
	return &Metrics{
		staleness: st,
		replayLast: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_views_replay_last_progress_timestamp_seconds",
			Help: "When (Unix time) a replay last applied records (or started); 0 before any replay.",
		}),
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

func (m *Metrics) setLastEvent(p int32, t time.Time) {
	if m != nil && !t.IsZero() {
		m.lastEvent.Set(float64(t.UnixNano()) / 1e9)
		m.staleness.observe(p, t)
	}
}

// stalenessCollector exports cdcflow_views_staleness_seconds, computed at
// scrape time so that it grows while nothing is applied.
type stalenessCollector struct {
	desc   *prometheus.Desc
	now    func() time.Time
	mu     sync.Mutex
	newest map[int32]time.Time // newest commit time applied, by partition
}

func (c *stalenessCollector) observe(p int32, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.newest[p]) {
		c.newest[p] = t
	}
}

// Describe implements prometheus.Collector.
func (c *stalenessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *stalenessCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for p, t := range c.newest {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue,
			max(now.Sub(t).Seconds(), 0), strconv.Itoa(int(p)))
	}
}

func (m *Metrics) setLag(topic string, p int32, lag int64) {
	if m != nil {
		m.lag.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(lag))
	}
}

// initTopics exports the per-topic counters of topics at 0, so that a
// dashboard finds the series before the first dead letter or fence and an
// alert's increase() sees the first one.
func (m *Metrics) initTopics(topics []string) {
	if m == nil {
		return
	}
	for _, t := range topics {
		m.deadLetters.WithLabelValues(t)
		m.fenced.WithLabelValues(t)
	}
}

// initAggregates exports the skipped counter of each aggregate type at 0,
// as initTopics does for the per-topic counters.
func (m *Metrics) initAggregates(aggs []string) {
	if m == nil {
		return
	}
	for _, a := range aggs {
		m.skipped.WithLabelValues(a)
	}
}

func (m *Metrics) addDeadLetter(topic string) {
	if m != nil {
		m.deadLetters.WithLabelValues(topic).Inc()
	}
}

func (m *Metrics) setReplay(done, total int64) {
	if m != nil {
		m.replayMu.Lock()
		if !m.replayStarted || done != m.replayPrev {
			m.replayLast.Set(float64(time.Now().UnixNano()) / 1e9)
		}
		m.replayStarted, m.replayPrev = true, done
		m.replayMu.Unlock()
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
	// Progress records move staleness too, so that it stays honest on an
	// idle source.
	m.staleness.observe(p, t)
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

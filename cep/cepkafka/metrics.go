package cepkafka

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/cdcflow/cdcflow/cep"
)

// Metrics are the Prometheus metrics of a Runner (docs/cep.md). A nil
// *Metrics records nothing.
type Metrics struct {
	open, timers                              *prometheus.GaugeVec
	timerLag, evalTime                        *prometheus.HistogramVec
	matches, derived, dropped, late, evalErrs *prometheus.CounterVec
	watermark, buffered, stateBytes           prometheus.Gauge
	inputs, undecodable, duplicates           prometheus.Counter
	transactions                              *prometheus.CounterVec
	txSeconds                                 prometheus.Histogram

	// last are the engine's cumulative counters as last exported, per
	// rule, so that the Prometheus counters get the increments.
	last map[string]cep.RuleStats
	dups uint64
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	rule := []string{"rule"}
	counter := func(name, help string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, rule)
	}
	m := &Metrics{
		open:     f.NewGaugeVec(prometheus.GaugeOpts{Name: "cdcflow_cep_open_matches", Help: "Open matches of a rule: absence starts (and fired timeouts awaiting resolution), sequence partial matches, window keys."}, rule),
		timers:   f.NewGaugeVec(prometheus.GaugeOpts{Name: "cdcflow_cep_timers", Help: "Pending deadlines of a rule's open matches."}, rule),
		timerLag: f.NewHistogramVec(prometheus.HistogramOpts{Name: "cdcflow_cep_timer_lag_seconds", Help: "How far the event-time watermark had passed a deadline when it fired.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, rule),
		evalTime: f.NewHistogramVec(prometheus.HistogramOpts{Name: "cdcflow_cep_evaluation_seconds", Help: "Time one input spent in a rule's matching.", Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10)}, rule),
		matches:  counter("cdcflow_cep_matches_total", "Completed matches of a rule: timeouts, sequences, thresholds reached, resolutions."),
		derived:  counter("cdcflow_cep_derived_events_total", "Derived events a rule emitted."),
		dropped:  counter("cdcflow_cep_dropped_matches_total", "Open matches a rule dropped at its per-key bound."),
		late:     counter("cdcflow_cep_late_events_total", "Events older than their key's window, not counted in it."),
		evalErrs: counter("cdcflow_cep_evaluation_errors_total", "CEL evaluation errors of a rule (the input skipped for that rule)."),
		watermark: f.NewGauge(prometheus.GaugeOpts{Name: "cdcflow_cep_watermark_seconds",
			Help: "The event-time watermark (Unix time): the lowest source commit time every input partition has reached."}),
		buffered: f.NewGauge(prometheus.GaugeOpts{Name: "cdcflow_cep_buffered_records",
			Help: "Input records held by the merge until every partition has reached their position."}),
		stateBytes: f.NewGauge(prometheus.GaugeOpts{Name: "cdcflow_cep_state_bytes",
			Help: "Size of the last state snapshot written to the changelog topic."}),
		inputs: f.NewCounter(prometheus.CounterOpts{Name: "cdcflow_cep_input_records_total",
			Help: "Input records read (events, control records and dead letters)."}),
		undecodable: f.NewCounter(prometheus.CounterOpts{Name: "cdcflow_cep_undecodable_records_total",
			Help: "Input records that are not cdcflow CloudEvents (or fail to upcast), logged and skipped."}),
		duplicates: f.NewCounter(prometheus.CounterOpts{Name: "cdcflow_cep_duplicate_records_total",
			Help: "Input records dropped because their position was not above their partition's last (redeliveries)."}),
		transactions: f.NewCounterVec(prometheus.CounterOpts{Name: "cdcflow_cep_transactions_total",
			Help: "Kafka transactions of the CEP runner (derived events, state and offsets), by outcome: committed, aborted, unknown."}, []string{"outcome"}),
		txSeconds: f.NewHistogram(prometheus.HistogramOpts{Name: "cdcflow_cep_transaction_seconds",
			Help: "Time from beginning a CEP transaction to its commit.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		last: map[string]cep.RuleStats{},
	}
	for _, o := range []string{"committed", "aborted", "unknown"} {
		m.transactions.WithLabelValues(o)
	}
	return m
}

// hooks returns the engine hooks that feed m.
func (m *Metrics) hooks() *cep.Hooks {
	if m == nil {
		return nil
	}
	// The engine calls EvalTime per rule and input, from one goroutine:
	// each rule's histogram is looked up once, not per call.
	evalTime := map[string]prometheus.Observer{}
	return &cep.Hooks{
		Now: time.Now,
		EvalTime: func(rule string, d time.Duration) {
			o, ok := evalTime[rule]
			if !ok {
				o = m.evalTime.WithLabelValues(rule)
				evalTime[rule] = o
			}
			o.Observe(d.Seconds())
		},
		TimerFired: func(rule string, lag time.Duration) { m.timerLag.WithLabelValues(rule).Observe(lag.Seconds()) },
	}
}

// observe exports the engine's gauges and the increments of its counters
// since the last call. After a Restore the engine's counters may be lower
// than what was exported (the state of the last commit); the counters then
// take the new values as their base.
func (m *Metrics) observe(e *cep.Engine) {
	if m == nil {
		return
	}
	for _, s := range e.Stats() {
		m.open.WithLabelValues(s.Rule).Set(float64(s.OpenMatches))
		m.timers.WithLabelValues(s.Rule).Set(float64(s.Timers))
		prev, ok := m.last[s.Rule]
		m.last[s.Rule] = s
		if !ok {
			// Exported at 0 from the start, counting from the restored state.
			for _, c := range []*prometheus.CounterVec{m.matches, m.derived, m.dropped, m.late, m.evalErrs} {
				c.WithLabelValues(s.Rule)
			}
			continue
		}
		add := func(c *prometheus.CounterVec, now, before uint64) {
			if now > before {
				c.WithLabelValues(s.Rule).Add(float64(now - before))
			}
		}
		add(m.matches, s.Matches, prev.Matches)
		add(m.derived, s.Derived, prev.Derived)
		add(m.dropped, s.Dropped, prev.Dropped)
		add(m.late, s.Late, prev.Late)
		add(m.evalErrs, s.Errors, prev.Errors)
	}
	if d := e.Duplicates(); d > m.dups {
		m.duplicates.Add(float64(d - m.dups))
		m.dups = d
	} else {
		m.dups = d
	}
	if wm := e.Watermark(); !wm.IsZero() {
		m.watermark.Set(float64(wm.UnixNano()) / 1e9)
	}
	m.buffered.Set(float64(e.Buffered()))
}

// rebase forgets the exported counters' base: the next observe counts from
// the engine's (restored) values.
func (m *Metrics) rebase(e *cep.Engine) {
	if m == nil {
		return
	}
	for _, s := range e.Stats() {
		m.last[s.Rule] = s
		for _, c := range []*prometheus.CounterVec{m.matches, m.derived, m.dropped, m.late, m.evalErrs} {
			c.WithLabelValues(s.Rule) // exported at 0 from the start
		}
		m.timerLag.WithLabelValues(s.Rule)
		m.evalTime.WithLabelValues(s.Rule)
		m.open.WithLabelValues(s.Rule)
		m.timers.WithLabelValues(s.Rule)
	}
	m.dups = e.Duplicates()
}

func (m *Metrics) input(n int) {
	if m != nil {
		m.inputs.Add(float64(n))
	}
}

func (m *Metrics) skipped() {
	if m != nil {
		m.undecodable.Inc()
	}
}

func (m *Metrics) committed(d time.Duration, stateBytes int) {
	if m != nil {
		m.transactions.WithLabelValues("committed").Inc()
		m.txSeconds.Observe(d.Seconds())
		m.stateBytes.Set(float64(stateBytes))
	}
}

func (m *Metrics) outcome(o string) {
	if m != nil {
		m.transactions.WithLabelValues(o).Inc()
	}
}

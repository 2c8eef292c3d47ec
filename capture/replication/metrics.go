package replication

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/cdcflow/cdcflow/capture"
)

// Metrics holds the Reader's metrics (listed in the package documentation).
// A nil *Metrics records nothing. Its methods are safe for concurrent use.
type Metrics struct {
	lagBytes       prometheus.Gauge
	lagSeconds     prometheus.Gauge
	retainedBytes  prometheus.Gauge
	safeWALBytes   prometheus.Gauge
	receivedLSN    prometheus.Gauge
	confirmedLSN   prometheus.Gauge
	changes        *prometheus.CounterVec
	reconnects     prometheus.Counter
	retryingSince  prometheus.Gauge
	blockedSeconds prometheus.Counter
	heartbeats     prometheus.Counter
	walStatus      *prometheus.GaugeVec
	active         prometheus.Gauge
	lastHeartbeat  prometheus.Gauge
}

// walStatuses are the values of pg_replication_slots.wal_status that
// cdcflow_capture_slot_wal_status always exports, so that a query for one of
// them finds a series (0) before the slot ever reaches it.
var walStatuses = []string{"reserved", "extended", "unreserved", "lost"}

// NewMetrics creates the Reader's metrics and registers them with reg. It
// panics if they are already registered with reg, as promauto does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		lagBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_slot_lag_bytes",
			Help: "WAL between the server's current position and the slot's confirmed_flush_lsn.",
		}),
		lagSeconds: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_slot_lag_seconds",
			Help: "Age of the oldest heartbeat emitted but not yet confirmed through the slot (0 when all are).",
		}),
		retainedBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_slot_retained_wal_bytes",
			Help: "WAL the server keeps for the slot: current position minus the slot's restart_lsn.",
		}),
		safeWALBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_slot_safe_wal_size_bytes",
			Help: "WAL that can still be written before the slot is lost to max_slot_wal_keep_size (-1: unlimited).",
		}),
		receivedLSN: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_received_lsn",
			Help: "WAL start of the last message received from the slot.",
		}),
		confirmedLSN: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_confirmed_lsn",
			Help: "Position last reported to the server as flushed (the consumer's confirmed watermark).",
		}),
		changes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_capture_changes_total",
			Help: "Row changes received from the slot, by table and operation.",
		}, []string{"table", "op"}),
		reconnects: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_capture_reconnects_total",
			Help: "Replication sessions started again after one ended with an error.",
		}),
		retryingSince: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_retrying_since_timestamp_seconds",
			Help: "When the replication sessions began to fail (Unix time) while the Reader reconnects; 0 while a session is up.",
		}),
		blockedSeconds: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_capture_handler_blocked_seconds_total",
			Help: "Time the Reader held a full chunk because the handler was busy (WAL reading paused).",
		}),
		heartbeats: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_capture_heartbeats_total",
			Help: "Heartbeat logical messages emitted.",
		}),
		walStatus: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cdcflow_capture_slot_wal_status",
			Help: "1 for the slot's current wal_status (reserved, extended, unreserved, lost), 0 for the others.",
		}, []string{"wal_status"}),
		active: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_slot_active",
			Help: "1 when the slot is active (streamed by this or another process), 0 when not.",
		}),
		lastHeartbeat: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_capture_last_heartbeat_timestamp_seconds",
			Help: "When (Unix time) the newest heartbeat the slot has confirmed was emitted; heartbeat age is time() minus this (0 before the first).",
		}),
	}
}

func (m *Metrics) received(lsn capture.LSN) {
	if m != nil {
		m.receivedLSN.Set(float64(lsn))
	}
}

func (m *Metrics) confirmed(lsn capture.LSN) {
	if m != nil {
		m.confirmedLSN.Set(float64(lsn))
	}
}

// changeCounters caches the changes counter of each relation and operation
// of one session, sparing the label lookup per change. It is owned by the
// session's receiving goroutine.
type changeCounters struct {
	m  *Metrics
	by map[changeKey]prometheus.Counter
}

type changeKey struct {
	rel *capture.Relation // a new pointer when the table's shape changes
	op  capture.Op
}

func (m *Metrics) changeCounters() *changeCounters {
	return &changeCounters{m: m, by: make(map[changeKey]prometheus.Counter)}
}

func (cc *changeCounters) inc(c *capture.Change) {
	if cc.m == nil || c.Relation == nil {
		return
	}
	k := changeKey{c.Relation, c.Op}
	ctr, ok := cc.by[k]
	if !ok {
		ctr = cc.m.changes.WithLabelValues(c.Relation.Schema+"."+c.Relation.Table, c.Op.String())
		cc.by[k] = ctr
	}
	ctr.Inc()
}

func (m *Metrics) reconnect() {
	if m != nil {
		m.reconnects.Inc()
	}
}

func (m *Metrics) retrying(since time.Time) {
	if m == nil {
		return
	}
	if since.IsZero() {
		m.retryingSince.Set(0)
		return
	}
	m.retryingSince.Set(float64(since.UnixNano()) / 1e9)
}

func (m *Metrics) blocked(seconds float64) {
	if m != nil && seconds > 0 {
		m.blockedSeconds.Add(seconds)
	}
}

func (m *Metrics) heartbeat() {
	if m != nil {
		m.heartbeats.Inc()
	}
}

// slotState is what the heartbeat reads of the slot for the metrics.
type slotState struct {
	lagBytes, retained, safe, lagSeconds float64
	walStatus                            string // "" on servers before 13
	active                               bool
}

func (m *Metrics) slot(s slotState) {
	if m == nil {
		return
	}
	m.lagBytes.Set(s.lagBytes)
	m.retainedBytes.Set(s.retained)
	m.safeWALBytes.Set(s.safe)
	m.lagSeconds.Set(s.lagSeconds)
	if s.walStatus != "" {
		for _, w := range walStatuses {
			m.walStatus.WithLabelValues(w).Set(0)
		}
		m.walStatus.WithLabelValues(s.walStatus).Set(1)
	}
	if s.active {
		m.active.Set(1)
	} else {
		m.active.Set(0)
	}
}

// heartbeatConfirmed records the emission time of the newest heartbeat the
// slot has confirmed.
func (m *Metrics) heartbeatConfirmed(at time.Time) {
	if m != nil {
		m.lastHeartbeat.Set(float64(at.UnixNano()) / 1e9)
	}
}

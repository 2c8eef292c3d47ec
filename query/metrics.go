package query

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the query server's Prometheus metrics (see the package doc).
// A nil *Metrics records nothing.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	rywWait    prometheus.Histogram
	rywTimeout prometheus.Counter
	sseClients prometheus.Gauge
	batchSize  prometheus.Histogram
}

// NewMetrics registers the query metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cdcflow_query_requests_total",
			Help: "Query API requests answered, by route pattern and HTTP status code.",
		}, []string{"route", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cdcflow_query_request_duration_seconds",
			Help:    "Time to answer a query API request (an SSE stream: until its first event).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		rywWait: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "cdcflow_query_read_your_writes_wait_seconds",
			Help:    "Time read-your-writes requests waited for every partition to apply min_lsn (answered or timed out).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2, 5, 10},
		}),
		rywTimeout: f.NewCounter(prometheus.CounterOpts{
			Name: "cdcflow_query_read_your_writes_timeouts_total",
			Help: "Read-your-writes waits that ended in 504 because a partition had not applied min_lsn in time.",
		}),
		sseClients: f.NewGauge(prometheus.GaugeOpts{
			Name: "cdcflow_query_sse_clients",
			Help: "Server-Sent Events connections open now.",
		}),
		batchSize: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "cdcflow_query_redis_batch_size",
			Help:    "Entity reads sent to Redis in one pipeline by the read batcher (query.read_batch caps it).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
	}
}

// routeMetrics are one route's metric children, looked up once: the
// duration histogram and the counter of 200 answers (other codes are rarer
// and looked up when they happen). A nil *routeMetrics records nothing.
type routeMetrics struct {
	requests *prometheus.CounterVec
	route    string
	ok       prometheus.Counter
	duration prometheus.Observer
}

// route returns the children of route; nil when m is nil.
func (m *Metrics) route(route string) *routeMetrics {
	if m == nil {
		return nil
	}
	return &routeMetrics{requests: m.requests, route: route,
		ok: m.requests.WithLabelValues(route, "200"), duration: m.duration.WithLabelValues(route)}
}

func (rm *routeMetrics) count(code int) {
	switch {
	case rm == nil:
	case code == http.StatusOK:
		rm.ok.Inc()
	default:
		rm.requests.WithLabelValues(rm.route, strconv.Itoa(code)).Inc()
	}
}

func (rm *routeMetrics) observe(seconds float64) {
	if rm != nil {
		rm.duration.Observe(seconds)
	}
}

func (m *Metrics) waited(seconds float64, timedOut bool) {
	if m == nil {
		return
	}
	m.rywWait.Observe(seconds)
	if timedOut {
		m.rywTimeout.Inc()
	}
}

func (m *Metrics) sse(delta float64) {
	if m == nil {
		return
	}
	m.sseClients.Add(delta)
}

func (m *Metrics) batched(reads int) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(reads))
}

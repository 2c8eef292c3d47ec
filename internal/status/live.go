package status

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Live is what the running process's /metrics says. Pointers are nil when
// the process does not export the figure (a materializer has no slot).
type Live struct {
	Command string `json:"command,omitempty"`
	Version string `json:"version,omitempty"`
	Ready   *bool  `json:"ready,omitempty"`
	// SlotLagSeconds is cdcflow_capture_slot_lag_seconds.
	SlotLagSeconds *float64 `json:"slot_lag_seconds,omitempty"`
	// LastHeartbeat, RetryingSince and KafkaLastAck are the matching
	// *_timestamp_seconds gauges (absent when 0).
	LastHeartbeat *time.Time `json:"last_heartbeat,omitempty"`
	RetryingSince *time.Time `json:"retrying_since,omitempty"`
	KafkaLastAck  *time.Time `json:"kafka_last_ack,omitempty"`
	KafkaInflight int64      `json:"kafka_inflight_records"`
	// DeadLetters sums cdcflow_kafka_dead_letters_total and
	// cdcflow_views_dead_letters_total since the process started.
	DeadLetters float64 `json:"dead_letters"`
	// ViewsStaleness is cdcflow_views_staleness_seconds by partition.
	ViewsStaleness map[int32]float64 `json:"views_staleness_seconds,omitempty"`
	// Snapshot is set while a snapshot has tables left.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

// Snapshot is a running snapshot's progress.
type Snapshot struct {
	TablesRemaining int64      `json:"tables_remaining"`
	Rows            int64      `json:"rows"`
	RowsRemaining   int64      `json:"rows_remaining"`
	LastProgress    *time.Time `json:"last_progress,omitempty"`
	// Rate is rows per second since the process started (an average).
	Rate float64 `json:"rate"`
}

// live scrapes the process's /metrics, leaving s.Live nil when it does not
// answer.
func (g *gatherer) live(ctx context.Context) {
	if g.cfg.MetricsAddr == "" {
		return
	}
	ctx, cancel := g.timeout(ctx)
	defer cancel()
	fams, err := scrape(ctx, "http://"+dialable(g.cfg.MetricsAddr)+"/metrics")
	if err != nil {
		return
	}
	g.s.Live = liveFrom(fams, g.s.Time)
}

// scrape fetches and parses a Prometheus text exposition.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain") // the text format, which expfmt's TextParser reads
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics parses the Prometheus text format.
func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// liveFrom picks the figures status shows out of fams, scraped at now.
func liveFrom(fams map[string]*dto.MetricFamily, now time.Time) *Live {
	l := &Live{}
	if m := first(fams, "cdcflow_up"); m != nil {
		l.Command, l.Version = label(m, "command"), label(m, "version")
	}
	if v, ok := value(fams, "cdcflow_ready"); ok {
		r := v == 1
		l.Ready = &r
	}
	if v, ok := value(fams, "cdcflow_capture_slot_lag_seconds"); ok {
		l.SlotLagSeconds = &v
	}
	l.LastHeartbeat = stamp(fams, "cdcflow_capture_last_heartbeat_timestamp_seconds")
	l.RetryingSince = stamp(fams, "cdcflow_capture_retrying_since_timestamp_seconds")
	l.KafkaLastAck = stamp(fams, "cdcflow_kafka_last_ack_timestamp_seconds")
	if v, ok := value(fams, "cdcflow_kafka_inflight_records"); ok {
		l.KafkaInflight = int64(v)
	}
	l.DeadLetters = sum(fams, "cdcflow_kafka_dead_letters_total") + sum(fams, "cdcflow_views_dead_letters_total")
	if f := fams["cdcflow_views_staleness_seconds"]; f != nil {
		l.ViewsStaleness = map[int32]float64{}
		for _, m := range f.GetMetric() {
			if p, err := strconv.ParseInt(label(m, "partition"), 10, 32); err == nil {
				l.ViewsStaleness[int32(p)] = m.GetGauge().GetValue()
			}
		}
	}
	if left, ok := value(fams, "cdcflow_capture_snapshot_tables_remaining"); ok && left > 0 {
		sn := &Snapshot{TablesRemaining: int64(left)}
		sn.Rows = int64(sum(fams, "cdcflow_capture_snapshot_rows_total"))
		if v, ok := value(fams, "cdcflow_capture_snapshot_rows_remaining"); ok {
			sn.RowsRemaining = int64(v)
		}
		sn.LastProgress = stamp(fams, "cdcflow_capture_snapshot_last_progress_timestamp_seconds")
		if start := stamp(fams, "process_start_time_seconds"); start != nil {
			if el := now.Sub(*start).Seconds(); el > 0 {
				sn.Rate = float64(sn.Rows) / el
			}
		}
		l.Snapshot = sn
	}
	return l
}

// first is the first series of family name, nil when there is none.
func first(fams map[string]*dto.MetricFamily, name string) *dto.Metric {
	f := fams[name]
	if f == nil || len(f.GetMetric()) == 0 {
		return nil
	}
	return f.GetMetric()[0]
}

// value is the value of the first series of a gauge, counter or untyped
// family.
func value(fams map[string]*dto.MetricFamily, name string) (float64, bool) {
	m := first(fams, name)
	if m == nil {
		return 0, false
	}
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue(), true
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue(), true
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// sum adds the values of every series of a counter or gauge family.
func sum(fams map[string]*dto.MetricFamily, name string) float64 {
	var s float64
	for _, m := range fams[name].GetMetric() {
		s += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return s
}

// stamp reads a Unix-time gauge; nil when absent or 0 (never happened).
func stamp(fams map[string]*dto.MetricFamily, name string) *time.Time {
	v, ok := value(fams, name)
	if !ok || v <= 0 {
		return nil
	}
	t := time.Unix(0, int64(v*1e9)).UTC()
	return &t
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// dialable turns a listen address (":9090", "0.0.0.0:9090", "[::]:9090")
// into one to connect to on this host.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

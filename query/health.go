package query

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// GathererHealth returns a Config.Health that reads the pipeline's stages
// from the metrics registry of the process the server runs in (`cdcflow
// run`): capture (slot lag in bytes and seconds), Kafka (records in flight)
// and the views' consumer (records behind the topics' ends). A stage whose
// metrics are not registered is left out.
func GathererHealth(g prometheus.Gatherer) func(context.Context) []Stage {
	return func(context.Context) []Stage {
		mfs, err := g.Gather()
		if err != nil {
			return []Stage{{Name: "metrics", Status: "unknown", Note: "gather metrics: " + err.Error()}}
		}
		sums := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				sums[mf.GetName()] += value(m)
			}
			if len(mf.GetMetric()) > 0 {
				sums[mf.GetName()+"#"] = 1 // present
			}
		}
		var out []Stage
		if sums["cdcflow_capture_slot_lag_bytes#"] > 0 {
			b := uint64(max(0, sums["cdcflow_capture_slot_lag_bytes"]))
			st := Stage{Name: "capture", LagBytes: &b, Status: "ok", Note: "replication slot lag"}
			if sums["cdcflow_capture_slot_lag_seconds#"] > 0 {
				s := sums["cdcflow_capture_slot_lag_seconds"]
				st.StalenessSeconds = &s
			}
			out = append(out, st)
		}
		if sums["cdcflow_kafka_inflight_records#"] > 0 {
			n := int64(sums["cdcflow_kafka_inflight_records"])
			out = append(out, Stage{Name: "kafka", LagRecords: &n, Status: "ok", Note: "records not yet acknowledged"})
		}
		if sums["cdcflow_views_consumer_lag_records#"] > 0 {
			n := int64(sums["cdcflow_views_consumer_lag_records"])
			out = append(out, Stage{Name: "materialize", LagRecords: &n, Status: "ok", Note: "records behind the topics' ends"})
		}
		return out
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

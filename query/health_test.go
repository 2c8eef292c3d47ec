package query

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestGathererHealth(t *testing.T) {
	reg := prometheus.NewRegistry()
	if got := GathererHealth(reg)(t.Context()); len(got) != 0 {
		t.Errorf("no metrics: stages %+v; want none", got)
	}
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdcflow_capture_slot_lag_bytes"}, []string{"slot"})
	secs := prometheus.NewGauge(prometheus.GaugeOpts{Name: "cdcflow_capture_slot_lag_seconds"})
	views := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdcflow_views_consumer_lag_records"}, []string{"topic", "partition"})
	reg.MustRegister(lag, secs, views)
	lag.WithLabelValues("s").Set(4096)
	secs.Set(1.5)
	views.WithLabelValues("shop.order", "0").Set(3)
	views.WithLabelValues("shop.order", "1").Set(4)
	got := GathererHealth(reg)(t.Context())
	if len(got) != 2 || got[0].Name != "capture" || *got[0].LagBytes != 4096 || *got[0].StalenessSeconds != 1.5 ||
		got[1].Name != "materialize" || *got[1].LagRecords != 7 {
		t.Errorf("stages %+v; want capture 4096 bytes 1.5 s and materialize 7 records", got)
	}
}

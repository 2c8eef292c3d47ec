package status

import (
	"context"
	"strings"
	"testing"
	"time"
)

const exposition = `# TYPE cdcflow_up gauge
cdcflow_up{command="run",version="v1.0.0"} 1
# TYPE cdcflow_ready gauge
cdcflow_ready 0
# TYPE cdcflow_capture_slot_lag_seconds gauge
cdcflow_capture_slot_lag_seconds 2.5
# TYPE cdcflow_capture_last_heartbeat_timestamp_seconds gauge
cdcflow_capture_last_heartbeat_timestamp_seconds 1.7652e+09
# TYPE cdcflow_capture_retrying_since_timestamp_seconds gauge
cdcflow_capture_retrying_since_timestamp_seconds 0
# TYPE cdcflow_kafka_inflight_records gauge
cdcflow_kafka_inflight_records 7
# TYPE cdcflow_kafka_dead_letters_total counter
cdcflow_kafka_dead_letters_total{kind="oversized"} 1
cdcflow_kafka_dead_letters_total{kind="unmappable"} 2
# TYPE cdcflow_views_dead_letters_total counter
cdcflow_views_dead_letters_total{topic="shop.order"} 3
# TYPE cdcflow_views_staleness_seconds gauge
cdcflow_views_staleness_seconds{partition="0"} 1.5
cdcflow_views_staleness_seconds{partition="2"} 30
# TYPE cdcflow_capture_snapshot_tables_remaining gauge
cdcflow_capture_snapshot_tables_remaining 2
# TYPE cdcflow_capture_snapshot_rows_total counter
cdcflow_capture_snapshot_rows_total{table="public.a"} 600
cdcflow_capture_snapshot_rows_total{table="public.b"} 400
# TYPE cdcflow_capture_snapshot_rows_remaining gauge
cdcflow_capture_snapshot_rows_remaining 3000
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7651999e+09
`

func TestLiveFrom(t *testing.T) {
	fams, err := parseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1765200000, 0)
	l := liveFrom(fams, now)
	if l.Command != "run" || l.Version != "v1.0.0" {
		t.Errorf("command, version = %q, %q; want run, v1.0.0", l.Command, l.Version)
	}
	if l.Ready == nil || *l.Ready {
		t.Errorf("ready = %v; want false", l.Ready)
	}
	if l.SlotLagSeconds == nil || *l.SlotLagSeconds != 2.5 {
		t.Errorf("slot lag = %v; want 2.5", l.SlotLagSeconds)
	}
	if l.LastHeartbeat == nil || !l.LastHeartbeat.Equal(time.Unix(1765200000, 0)) {
		t.Errorf("last heartbeat = %v; want %v", l.LastHeartbeat, time.Unix(1765200000, 0))
	}
	if l.RetryingSince != nil || l.KafkaLastAck != nil {
		t.Errorf("retrying since %v, last ack %v; want nil (0 and absent)", l.RetryingSince, l.KafkaLastAck)
	}
	if l.KafkaInflight != 7 || l.DeadLetters != 6 {
		t.Errorf("inflight %d, dead letters %v; want 7, 6", l.KafkaInflight, l.DeadLetters)
	}
	if len(l.ViewsStaleness) != 2 || l.ViewsStaleness[0] != 1.5 || l.ViewsStaleness[2] != 30 {
		t.Errorf("staleness = %v; want partitions 0: 1.5, 2: 30", l.ViewsStaleness)
	}
	sn := l.Snapshot
	if sn == nil || sn.TablesRemaining != 2 || sn.Rows != 1000 || sn.RowsRemaining != 3000 || sn.Rate != 10 {
		t.Errorf("snapshot = %+v; want 2 tables, 1000 rows, 3000 left, 10 rows/s over the 100s since start", sn)
	}
}

func TestLiveWithoutSnapshot(t *testing.T) {
	fams, err := parseMetrics(strings.NewReader("cdcflow_capture_snapshot_tables_remaining 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l := liveFrom(fams, time.Now()); l.Snapshot != nil || l.Ready != nil || l.SlotLagSeconds != nil {
		t.Errorf("live = %+v; want no snapshot (0 tables left), no readiness, no lag", l)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add(exposition)
	f.Add("cdcflow_views_staleness_seconds{partition=\"x\"} NaN\n")
	f.Add("# TYPE cdcflow_up counter\ncdcflow_up 1\n")
	f.Fuzz(func(t *testing.T, text string) {
		fams, err := parseMetrics(strings.NewReader(text))
		if err != nil {
			return
		}
		liveFrom(fams, time.Unix(1765200000, 0)) // must not panic
	})
}

func TestDialable(t *testing.T) {
	tests := []struct{ in, want string }{
		{":9090", "127.0.0.1:9090"},
		{"0.0.0.0:9090", "127.0.0.1:9090"},
		{"[::]:9090", "127.0.0.1:9090"},
		{"10.0.0.5:9090", "10.0.0.5:9090"},
		{"metrics", "metrics"},
	}
	for _, tt := range tests {
		if got := dialable(tt.in); got != tt.want {
			t.Errorf("dialable(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// With no broker answering and no state in the data directory, status says
// the embedded broker is not running.
func TestEmbeddedBrokerNotRunning(t *testing.T) {
	dir := t.TempDir()
	brokers, stop, note := EmbeddedBroker(context.Background(), dir, []string{"127.0.0.1:1"})
	defer stop()
	if brokers != nil || !strings.HasPrefix(note, "embedded broker: not running") {
		t.Errorf("EmbeddedBroker(empty dir) = %v, %q; want none, embedded broker: not running", brokers, note)
	}
}

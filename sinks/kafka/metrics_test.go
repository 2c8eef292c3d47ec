package kafka

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The last-ack stamp moves on an acknowledged record only, not on a failed
// one.
func TestLastAckTimestamp(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.produced(2, 20)
	m.ackedRec(ackedRecord{topic: "orders", bytes: 10, first: true}, errors.New("boom"))
	if got := testutil.ToFloat64(m.lastAck); got != 0 {
		t.Errorf("last ack after a failed record = %v; want 0", got)
	}
	before := float64(time.Now().UnixNano()) / 1e9
	m.ackedRec(ackedRecord{topic: "orders", bytes: 10, first: true}, nil)
	if got := testutil.ToFloat64(m.lastAck); got < before {
		t.Errorf("last ack after an acknowledged record = %v; want at least %v", got, before)
	}
}

// Every dead-letter and error kind, and every transaction outcome, is
// exported at 0 before the first one happens.
func TestKindsExportedAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	newTxMetrics(reg)
	for name, want := range map[string]int{
		"cdcflow_kafka_dead_letters_total": 2,
		"cdcflow_kafka_errors_total":       4,
		"cdcflow_kafka_transactions_total": 3,
	} {
		if got, err := testutil.GatherAndCount(reg, name); err != nil || got != want {
			t.Errorf("series of %s = %d, %v; want %d at 0", name, got, err, want)
		}
	}
}

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

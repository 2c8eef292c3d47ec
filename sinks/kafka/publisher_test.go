package kafka

import (
	"errors"
	"testing"
	"time"
)

// TestFinishReportsInCallOrder completes batches in reverse order and checks
// that their acknowledgements are still reported in call order.
func TestFinishReportsInCallOrder(t *testing.T) {
	p := &Publisher{now: time.Now, reported: make(chan struct{})}
	var got []int
	const n = 5
	batches := make([]*pending, n)
	for i := range n {
		pb := &pending{onAck: func(err error) {
			if err != nil && i != 2 {
				t.Errorf("batch %d acked with %v", i, err)
			}
			got = append(got, i)
		}}
		batches[i] = pb
		p.acks = append(p.acks, pb)
	}
	batches[2].fail(errors.New("boom"))
	for i := n - 1; i >= 1; i-- {
		p.finish(batches[i])
		if len(got) != 0 {
			t.Fatalf("after finishing batch %d, reported %v; want nothing before batch 0", i, got)
		}
	}
	p.finish(batches[0])
	want := []int{0, 1, 2, 3, 4}
	if len(got) != n {
		t.Fatalf("reported %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reported %v; want %v", got, want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "no brokers", wantErr: true},
		{name: "minimal", cfg: Config{Brokers: []string{"a:9092"}}},
		{name: "bad compression", cfg: Config{Brokers: []string{"a:9092"}, Compression: "brotli"}, wantErr: true},
		{name: "bad sasl", cfg: Config{Brokers: []string{"a:9092"}, SASL: SASLConfig{Mechanism: "GSSAPI", User: "u"}}, wantErr: true},
		{name: "sasl without user", cfg: Config{Brokers: []string{"a:9092"}, SASL: SASLConfig{Mechanism: "PLAIN"}}, wantErr: true},
		{name: "cert without key", cfg: Config{Brokers: []string{"a:9092"}, TLS: TLSConfig{Enable: true, CertFile: "c.pem"}}, wantErr: true},
		{name: "scram", cfg: Config{Brokers: []string{"a:9092"}, SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", User: "u", Password: "p"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("withDefaults() error = %v; want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.Compression != "snappy" || got.Topics.Partitions != DefaultPartitions || got.Topics.Retention != -1 ||
				got.DeadLetterTopic != DefaultDeadLetterTopic || got.MaxBufferedBytes != DefaultMaxBufferedBytes {
				t.Errorf("withDefaults() = %+v; defaults not applied", got)
			}
		})
	}
}

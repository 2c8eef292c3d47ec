package config

import (
	"strings"
	"testing"
	"time"
)

func TestKafkaConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantErr string // substring; "" means valid
		check   func(t *testing.T, k KafkaConfig)
	}{
		{
			name: "defaults",
			yaml: "version: 1\n",
			check: func(t *testing.T, k KafkaConfig) {
				if k.Compression != "snappy" || k.Topics.Partitions != 1 || k.Topics.Retention != -1 ||
					// No dead-letter topic here: the mapping's is used.
					k.Topics.ReplicationFactor != -1 || k.DeadLetterTopic != "" || k.Embedded.Host != "127.0.0.1" ||
					k.MaxBufferedBytes != 64<<20 || k.RequestTimeout != 10*time.Second {
					t.Errorf("defaults not applied: %+v", k)
				}
			},
		},
		{
			name: "partitions with brokers",
			yaml: "version: 1\nkafka:\n  brokers: [b1:9092]\n",
			check: func(t *testing.T, k KafkaConfig) {
				if k.Topics.Partitions != 6 {
					t.Errorf("topics.partitions = %d with brokers; want 6", k.Topics.Partitions)
				}
			},
		},
		{
			name: "sasl from the environment",
			yaml: "version: 1\nkafka:\n  brokers: [b1:9092]\n  sasl:\n    mechanism: SCRAM-SHA-512\n    user: cdc\n",
			env:  []string{"CDCFLOW_KAFKA_SASL_PASSWORD=s3cret"},
			check: func(t *testing.T, k KafkaConfig) {
				pc := k.PublisherConfig(k.Brokers)
				if pc.SASL.Password != "s3cret" || pc.SASL.Mechanism != "SCRAM-SHA-512" || pc.Brokers[0] != "b1:9092" {
					t.Errorf("publisherConfig() = %+v", pc)
				}
			},
		},
		{name: "bad compression", yaml: "version: 1\nkafka:\n  compression: brotli\n", wantErr: "compression"},
		{name: "bad mechanism", yaml: "version: 1\nkafka:\n  sasl:\n    mechanism: GSSAPI\n    user: u\n", wantErr: "mechanism"},
		{name: "sasl without user", yaml: "version: 1\nkafka:\n  sasl:\n    mechanism: PLAIN\n", wantErr: "user"},
		{name: "cert without key", yaml: "version: 1\nkafka:\n  tls:\n    enable: true\n    cert_file: c.pem\n", wantErr: "key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("cdcflow.yaml", []byte(tt.yaml), tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig = %v; want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			tt.check(t, cfg.Kafka)
		})
	}
}

func TestKafkaPasswordNotPrinted(t *testing.T) {
	cfg, err := parse("cdcflow.yaml", []byte("version: 1\nkafka:\n  sasl:\n    mechanism: PLAIN\n    user: u\n    password: hunter2\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Errorf("printed configuration shows the SASL password:\n%s", out)
	}
}

func TestConfigDelivery(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Delivery != DeliveryAtLeastOnce {
		t.Errorf("default kafka.delivery = %q; want %q", cfg.Kafka.Delivery, DeliveryAtLeastOnce)
	}
	cfg, err = Load("", []string{"CDCFLOW_KAFKA_DELIVERY=exactly_once", "CDCFLOW_KAFKA_TRANSACTION_MAX_BYTES=262144"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Delivery != DeliveryExactlyOnce || cfg.Kafka.TransactionMaxBytes != 262144 {
		t.Errorf("kafka.delivery, transaction_max_bytes = %q, %d from the environment; want exactly_once, 262144",
			cfg.Kafka.Delivery, cfg.Kafka.TransactionMaxBytes)
	}
	if _, err := Load("", []string{"CDCFLOW_KAFKA_DELIVERY=exactly-once"}); err == nil || !strings.Contains(err.Error(), "kafka.delivery") {
		t.Errorf("kafka.delivery exactly-once: err = %v; want an error naming kafka.delivery", err)
	}
}

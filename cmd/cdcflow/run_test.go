package main

import (
	"strings"
	"testing"
)

func TestConfigDelivery(t *testing.T) {
	cfg, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Delivery != deliveryAtLeastOnce {
		t.Errorf("default kafka.delivery = %q; want %q", cfg.Kafka.Delivery, deliveryAtLeastOnce)
	}
	cfg, err = loadConfig("", []string{"CDCFLOW_KAFKA_DELIVERY=exactly_once", "CDCFLOW_KAFKA_TRANSACTION_MAX_BYTES=262144"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Delivery != deliveryExactlyOnce || cfg.Kafka.TransactionMaxBytes != 262144 {
		t.Errorf("kafka.delivery, transaction_max_bytes = %q, %d from the environment; want exactly_once, 262144",
			cfg.Kafka.Delivery, cfg.Kafka.TransactionMaxBytes)
	}
	if _, err := loadConfig("", []string{"CDCFLOW_KAFKA_DELIVERY=exactly-once"}); err == nil || !strings.Contains(err.Error(), "kafka.delivery") {
		t.Errorf("kafka.delivery exactly-once: err = %v; want an error naming kafka.delivery", err)
	}
}

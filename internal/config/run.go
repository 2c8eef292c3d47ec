package config

import (
	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/internal/services"
)

// BackpressureConfig bounds what cdcflow holds between capture and Kafka.
// When the budget is full, capture stops reading WAL (PostgreSQL keeps it)
// while the replication connection stays alive.
type BackpressureConfig struct {
	// MaxBytes bounds the encoded events queued for Kafka, in bytes.
	// Default 67108864 (64 MiB). The Kafka client's own buffer
	// (kafka.max_buffered_bytes) comes on top.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxRecords bounds the queued batches of events. Default 100000.
	MaxRecords int `yaml:"max_records"`
}

// setDefaults takes the budgets of backpressure.Queue.
func (b *BackpressureConfig) setDefaults() {
	orDefault(&b.MaxBytes, backpressure.DefaultMaxBytes)
	orDefault(&b.MaxRecords, backpressure.DefaultMaxRecords)
}

func (b *BackpressureConfig) validate() error {
	if b.MaxBytes < 0 {
		return invalidKey("max_bytes", "negative")
	}
	if b.MaxRecords < 0 {
		return invalidKey("max_records", "negative")
	}
	return nil
}

// KafkaEmbeddedConfig configures the Kafka-protocol broker cdcflow run starts
// in its data directory when kafka.brokers is empty.
type KafkaEmbeddedConfig struct {
	// Host is the address the embedded broker listens on. Default 127.0.0.1.
	Host string `yaml:"host"`
	// Port is the embedded broker's TCP port. Default 0: a free port, logged.
	Port int `yaml:"port"`
	// NoSyncWrites acknowledges batches before they are fsynced. Faster, but
	// a host crash (not a process crash) can lose the last seconds of
	// events that PostgreSQL was already told are safe. Default false.
	NoSyncWrites bool `yaml:"no_sync_writes"`
}

// setDefaults takes the embedded broker's own default host.
func (e *KafkaEmbeddedConfig) setDefaults() {
	orDefault(&e.Host, services.DefaultKafkaHost)
}

func (e *KafkaEmbeddedConfig) validate() error {
	if e.Port < 0 || e.Port > 65535 {
		return invalidKey("port", "%d is not a TCP port", e.Port)
	}
	return nil
}

package config

import "github.com/cdcflow/cdcflow/backpressure"

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

package main

// KafkaConfig configures the Kafka sink.
type KafkaConfig struct {
	// Brokers lists seed brokers as host:port. Empty means the embedded broker.
	Brokers []string `yaml:"brokers"`
}

package config

import (
	"fmt"
	"time"

	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/sinks/kafka"
)

// KafkaConfig configures the Kafka sink.
type KafkaConfig struct {
	// Brokers lists seed brokers as host:port. Empty means the embedded broker.
	Brokers []string `yaml:"brokers"`
	// Embedded configures the embedded broker used when Brokers is empty.
	Embedded KafkaEmbeddedConfig `yaml:"embedded"`
	// ClientID is the Kafka client id. Default "cdcflow".
	ClientID string `yaml:"client_id"`
	// TLS encrypts the connections to the brokers.
	TLS KafkaTLSConfig `yaml:"tls"`
	// SASL authenticates to the brokers.
	SASL KafkaSASLConfig `yaml:"sasl"`
	// Compression is the batch codec: snappy (default), lz4, zstd, gzip or none.
	Compression string `yaml:"compression"`
	// Linger is how long a partition's batch waits for more records. Default 0.
	Linger time.Duration `yaml:"linger"`
	// BatchMaxBytes caps one partition batch, in bytes. Default 1048576; keep
	// it at or below the broker's message.max.bytes.
	BatchMaxBytes int32 `yaml:"batch_max_bytes"`
	// MaxBufferedBytes bounds the bytes produced and not yet acknowledged.
	// Default 67108864 (64 MiB).
	MaxBufferedBytes int `yaml:"max_buffered_bytes"`
	// RequestTimeout bounds one produce request at the broker. Default 10s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// Topics says how missing topics are created.
	Topics KafkaTopicsConfig `yaml:"topics"`
	// DeadLetterTopic receives the records the pipeline could not map or that
	// are too large. Default: the mapping's dead-letter topic
	// (topics.dead_letter in the mapping file).
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// MetadataTopic records each event topic's partition count (compacted,
	// one partition). Default "cdcflow.topics".
	MetadataTopic string `yaml:"metadata_topic"`
	// PositionTopic stores the source position in exactly-once mode
	// (compacted, one partition). Default "cdcflow.positions".
	PositionTopic string `yaml:"position_topic"`
	// Delivery is "at_least_once" (default: idempotent producer, duplicates
	// possible after a crash, recognisable by their ids) or "exactly_once"
	// (Kafka transactions storing the source position with the events, so
	// read_committed consumers see each event once).
	Delivery string `yaml:"delivery"`
	// TransactionTimeout is the Kafka transaction timeout in exactly-once
	// mode. Default 10s.
	TransactionTimeout time.Duration `yaml:"transaction_timeout"`
	// TransactionMaxBytes is the size, in bytes of records, after which a
	// Kafka transaction ends at the next cut in exactly-once mode. Default
	// 16777216 (16 MiB).
	TransactionMaxBytes int `yaml:"transaction_max_bytes"`
	// ProgressInterval is how often, at least, each idle partition of an
	// event topic gets a progress record (docs/events.md). Default 1s
	// (kafka.DefaultProgressInterval).
	ProgressInterval time.Duration `yaml:"progress_interval"`
}

// Delivery modes (kafka.delivery).
const (
	DeliveryAtLeastOnce = "at_least_once"
	DeliveryExactlyOnce = "exactly_once"
)

// KafkaTLSConfig configures TLS to the brokers.
type KafkaTLSConfig struct {
	// Enable turns TLS on. Default false. With no ca_file the system roots are trusted.
	Enable bool `yaml:"enable"`
	// CAFile is a PEM file of the certificate authorities to trust.
	CAFile string `yaml:"ca_file"`
	// CertFile is the PEM client certificate, for mutual TLS (with key_file).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of cert_file.
	KeyFile string `yaml:"key_file"`
	// InsecureSkipVerify disables broker certificate verification. Tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// KafkaSASLConfig configures SASL authentication.
type KafkaSASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty disables SASL.
	Mechanism string `yaml:"mechanism"`
	// User is the SASL user name.
	User string `yaml:"user"`
	// Password is the SASL password: a secret, never printed or logged.
	Password string `yaml:"password" secret:"true"`
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

func (e *KafkaEmbeddedConfig) validate() error {
	if e.Port < 0 || e.Port > 65535 {
		return invalidKey("port", "%d is not a TCP port", e.Port)
	}
	return nil
}

// embeddedPartitions is the default partition count of event topics on the
// embedded broker (docs/benchmarks.md, "Partitions").
const embeddedPartitions = 1

// KafkaTopicsConfig says how missing topics are created.
type KafkaTopicsConfig struct {
	// Partitions of each event topic. Default 6, or 1 on the embedded broker
	// (no brokers configured), which fsyncs each partition a request touches
	// one after the other: one partition keeps the commit-to-ack latency
	// low there, and a one-machine deployment runs one materializer anyway.
	// Never change it once a topic is written: cdcflow refuses to run if it
	// did.
	Partitions int32 `yaml:"partitions"`
	// ReplicationFactor of created topics. Default -1: the broker's default.
	ReplicationFactor int16 `yaml:"replication_factor"`
	// Retention of event topics. Default -1 (forever): the topics are the
	// log views are rebuilt from.
	Retention Retention `yaml:"retention"`
}

// setDefaults takes the defaults of sinks/kafka and of the embedded broker
// (internal/services); the dead-letter topic has none here: empty means the
// mapping's.
func (k *KafkaConfig) setDefaults() {
	orDefault(&k.Embedded.Host, services.DefaultKafkaHost)
	orDefault(&k.ClientID, kafka.DefaultClientID)
	orDefault(&k.Compression, kafka.DefaultCompression)
	orDefault(&k.BatchMaxBytes, kafka.DefaultBatchMaxBytes)
	orDefault(&k.MaxBufferedBytes, kafka.DefaultMaxBufferedBytes)
	orDefault(&k.RequestTimeout, kafka.DefaultRequestTimeout)
	if len(k.Brokers) == 0 {
		orDefault(&k.Topics.Partitions, embeddedPartitions)
	}
	orDefault(&k.Topics.Partitions, kafka.DefaultPartitions)
	orDefault(&k.Topics.ReplicationFactor, kafka.DefaultReplicationFactor)
	orDefault(&k.Topics.Retention, Retention(kafka.DefaultRetention))
	orDefault(&k.MetadataTopic, kafka.DefaultMetadataTopic)
	orDefault(&k.PositionTopic, kafka.DefaultPositionTopic)
	orDefault(&k.Delivery, DeliveryAtLeastOnce)
	orDefault(&k.TransactionTimeout, kafka.DefaultTxTimeout)
	orDefault(&k.TransactionMaxBytes, kafka.DefaultTxMaxBytes)
	orDefault(&k.ProgressInterval, kafka.DefaultProgressInterval)
}

func (k *KafkaConfig) validate() error {
	switch k.Compression {
	case "zstd", "lz4", "snappy", "gzip", "none":
	default:
		return invalidKey("compression", "%q is not one of zstd, lz4, snappy, gzip, none", k.Compression)
	}
	switch k.Delivery {
	case DeliveryAtLeastOnce, DeliveryExactlyOnce:
	default:
		return invalidKey("delivery", "%q is not one of at_least_once, exactly_once", k.Delivery)
	}
	switch k.SASL.Mechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return invalidKey("sasl.mechanism", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", k.SASL.Mechanism)
	}
	if k.SASL.Mechanism != "" && k.SASL.User == "" {
		return invalidKey("sasl.user", "required with sasl.mechanism %s", k.SASL.Mechanism)
	}
	if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
		return invalidKey("tls", "cert_file and key_file go together")
	}
	switch {
	case k.Linger < 0:
		return invalidKey("linger", "negative")
	case k.BatchMaxBytes < 0:
		return invalidKey("batch_max_bytes", "negative")
	case k.MaxBufferedBytes < 0:
		return invalidKey("max_buffered_bytes", "negative")
	case k.RequestTimeout < 0:
		return invalidKey("request_timeout", "negative")
	case k.Topics.Partitions < 0:
		return invalidKey("topics.partitions", "negative")
	case k.TransactionTimeout < 0:
		return invalidKey("transaction_timeout", "negative")
	case k.TransactionMaxBytes < 0:
		return invalidKey("transaction_max_bytes", "negative")
	case k.ProgressInterval < 0:
		return invalidKey("progress_interval", "negative")
	}
	return nil
}

// PublisherConfig returns the sinks/kafka configuration for brokers (the
// configured ones, or the embedded broker's addresses).
func (k *KafkaConfig) PublisherConfig(brokers []string) kafka.Config {
	return kafka.Config{
		Brokers:  brokers,
		ClientID: k.ClientID,
		TLS: kafka.TLSConfig{
			Enable: k.TLS.Enable, CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile,
			InsecureSkipVerify: k.TLS.InsecureSkipVerify,
		},
		SASL:             kafka.SASLConfig{Mechanism: k.SASL.Mechanism, User: k.SASL.User, Password: k.SASL.Password},
		Compression:      k.Compression,
		Linger:           k.Linger,
		BatchMaxBytes:    k.BatchMaxBytes,
		MaxBufferedBytes: k.MaxBufferedBytes,
		RequestTimeout:   k.RequestTimeout,
		Topics: kafka.TopicConfig{
			Partitions: k.Topics.Partitions, ReplicationFactor: k.Topics.ReplicationFactor, Retention: time.Duration(k.Topics.Retention),
		},
		DeadLetterTopic: k.DeadLetterTopic,
		MetadataTopic:   k.MetadataTopic,
		PositionTopic:   k.PositionTopic,
	}
}

// Retention is a topic retention: a duration such as 168h, or -1 (any
// negative duration) for forever, which is how it prints.
type Retention time.Duration

// MarshalYAML prints forever as -1 and a finite retention as a duration.
func (r Retention) MarshalYAML() (any, error) {
	if r < 0 {
		return -1, nil
	}
	return time.Duration(r).String(), nil
}

// UnmarshalText reads -1 or a duration.
func (r *Retention) UnmarshalText(b []byte) error {
	if string(b) == "-1" {
		*r = -1
		return nil
	}
	d, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 168h, or -1 for forever", b)
	}
	*r = Retention(d)
	return nil
}

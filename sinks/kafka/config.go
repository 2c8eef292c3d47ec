package kafka

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cdcflow/cdcflow/internal/tlsconfig"
)

// Defaults of Config.
const (
	DefaultClientID         = "cdcflow"
	DefaultCompression      = "snappy"
	DefaultBatchMaxBytes    = 1 << 20  // 1 MiB, Kafka's default message.max.bytes
	DefaultMaxBufferedBytes = 64 << 20 // 64 MiB
	DefaultRequestTimeout   = 10 * time.Second
	DefaultPartitions       = 6
	DefaultDeadLetterTopic  = "cdcflow.deadletter"
	DefaultMetadataTopic    = "cdcflow.topics"
	DefaultPositionTopic    = "cdcflow.positions"
	// DefaultReplicationFactor leaves the replication factor of created
	// topics to the broker's default.
	DefaultReplicationFactor = -1
	// DefaultRetention keeps event topics forever.
	DefaultRetention time.Duration = -1
)

// Config configures a Publisher. A zero field means its default.
type Config struct {
	// Brokers lists the seed brokers as host:port. Required.
	Brokers []string
	// ClientID is the Kafka client id. Default "cdcflow".
	ClientID string
	// TLS, when Enable is set, encrypts the connections.
	TLS TLSConfig
	// SASL authenticates the connections when Mechanism is set.
	SASL SASLConfig
	// Compression is the batch codec: snappy (default), lz4, zstd, gzip or
	// none. snappy costs the least CPU per event (a fifth to a tenth of
	// zstd's); zstd writes about half the bytes. See docs/delivery.md for
	// the figures.
	Compression string
	// Linger is how long a partition's batch waits for more records before
	// it is sent. Default 0: send as soon as possible (batches still grow
	// while earlier requests are in flight), which keeps commit-to-ack
	// latency low.
	Linger time.Duration
	// BatchMaxBytes caps one partition batch. Default 1 MiB; it must not
	// exceed the broker's message.max.bytes.
	BatchMaxBytes int32
	// MaxBufferedBytes bounds the bytes of records produced and not yet
	// acknowledged; Publish blocks beyond it. Default 64 MiB.
	MaxBufferedBytes int
	// RequestTimeout bounds one produce request at the broker. Default 10 s.
	RequestTimeout time.Duration
	// Topics configures the topics EnsureTopics creates.
	Topics TopicConfig
	// DeadLetterTopic receives records marked DeadLetter. Default
	// "cdcflow.deadletter".
	DeadLetterTopic string
	// MetadataTopic is the compacted one-partition topic where the partition
	// count of each event topic is recorded. Default "cdcflow.topics".
	MetadataTopic string
	// PositionTopic is the compacted one-partition topic where TxPublisher
	// stores source positions. Default "cdcflow.positions".
	PositionTopic string
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	// Enable turns TLS on. With no CAFile the system roots are trusted.
	Enable bool
	// CAFile is a PEM file of the certificate authorities to trust.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key, for
	// mutual TLS; both or neither.
	CertFile, KeyFile string
	// InsecureSkipVerify disables the verification of the broker's
	// certificate. For tests only.
	InsecureSkipVerify bool
}

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty disables SASL.
	Mechanism string
	// User is the SASL user name.
	User string
	// Password is the SASL password. It is a secret: never logged.
	Password string
}

// TopicConfig sets how EnsureTopics creates topics.
type TopicConfig struct {
	// Partitions of each event topic. Default 6. It can never change once a
	// topic is written: keys would move to other partitions.
	Partitions int32
	// ReplicationFactor of each topic; 0 or -1 means the broker's default.
	ReplicationFactor int16
	// Retention of event topics (retention.ms). Default -1: forever. Event
	// topics are the log views are rebuilt from, so by default they keep
	// everything; a finite retention makes older events unavailable to
	// replay.
	Retention time.Duration
}

// withDefaults returns cfg with its zero fields set to their defaults, or an
// error naming the first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Brokers) == 0 {
		return cfg, errors.New("kafka config: no brokers")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Compression == "" {
		cfg.Compression = DefaultCompression
	}
	if _, err := codec(cfg.Compression); err != nil {
		return cfg, err
	}
	if cfg.BatchMaxBytes < 0 || cfg.MaxBufferedBytes < 0 || cfg.RequestTimeout < 0 || cfg.Linger < 0 || cfg.Topics.Partitions < 0 {
		return cfg, errors.New("kafka config: negative size, duration or partition count")
	}
	if cfg.BatchMaxBytes == 0 {
		cfg.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if cfg.MaxBufferedBytes == 0 {
		cfg.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Topics.Partitions == 0 {
		cfg.Topics.Partitions = DefaultPartitions
	}
	if cfg.Topics.ReplicationFactor == 0 {
		cfg.Topics.ReplicationFactor = DefaultReplicationFactor
	}
	if cfg.Topics.Retention == 0 {
		cfg.Topics.Retention = DefaultRetention
	}
	if cfg.DeadLetterTopic == "" {
		cfg.DeadLetterTopic = DefaultDeadLetterTopic
	}
	if cfg.MetadataTopic == "" {
		cfg.MetadataTopic = DefaultMetadataTopic
	}
	if cfg.PositionTopic == "" {
		cfg.PositionTopic = DefaultPositionTopic
	}
	switch cfg.SASL.Mechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return cfg, fmt.Errorf("kafka config: SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", cfg.SASL.Mechanism)
	}
	if cfg.SASL.Mechanism != "" && cfg.SASL.User == "" {
		return cfg, errors.New("kafka config: SASL user is empty")
	}
	if (cfg.TLS.CertFile == "") != (cfg.TLS.KeyFile == "") {
		return cfg, errors.New("kafka config: TLS cert file and key file go together")
	}
	return cfg, nil
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "zstd":
		return kgo.ZstdCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "none":
		return kgo.NoCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("kafka config: compression %q: want zstd, lz4, snappy, gzip or none", name)
}

// connOpts returns the client options that connect and authenticate, shared
// by every client the package builds.
func (cfg Config) connOpts() ([]kgo.Opt, error) {
	sec, err := cfg.SecurityOpts()
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID(cfg.ClientID)}, sec...), nil
}

// SecurityOpts returns the franz-go options for cfg's TLS and SASL settings
// (none when neither is set), so that other clients of the same cluster (the
// views' consumer) connect as the publisher does.
func (cfg Config) SecurityOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if cfg.TLS.Enable {
		tc, err := tlsconfig.Client(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.InsecureSkipVerify)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS: %w", err)
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch cfg.SASL.Mechanism {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: cfg.SASL.User, Pass: cfg.SASL.Password}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASL.User, Pass: cfg.SASL.Password}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASL.User, Pass: cfg.SASL.Password}.AsSha512Mechanism()))
	}
	return opts, nil
}

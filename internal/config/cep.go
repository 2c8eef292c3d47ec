package config

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/cep/cepkafka"
)

// CEPConfig configures complex event processing (docs/cep.md): `cdcflow cep`
// runs it, and `cdcflow run` runs it beside the flow when enabled is set.
type CEPConfig struct {
	// Enabled runs the rules inside `cdcflow run`, on the brokers the flow
	// publishes to. Default false.
	Enabled bool `yaml:"enabled"`
	// File is the rule file (YAML). Required by `cdcflow cep` and with enabled.
	File string `yaml:"file"`
	// Name names this consumer of the rules: the key of its state in
	// state_topic and, by default, its transactional id. Two processes with
	// one name fence each other; a replay from the beginning takes another
	// name. Default "cep".
	Name string `yaml:"name"`
	// Topic receives the derived events. Default: the mapping's topic
	// prefix + "cep" (shop.cep).
	Topic string `yaml:"topic"`
	// StateTopic is the compacted changelog topic of the state and the
	// consumed offsets. Default "cdcflow.cep.state".
	StateTopic string `yaml:"state_topic"`
	// Source is the CloudEvents source of the derived events and an input
	// of their ids: keep it when replaying. Default "cdcflow://cep/" + the
	// mapping's topic prefix without its trailing dot.
	Source string `yaml:"source"`
	// TransactionalID is the Kafka transactional id. Default
	// "cdcflow-cep-" + name.
	TransactionalID string `yaml:"transactional_id"`
	// CommitInterval is how often one Kafka transaction commits the derived
	// events, the state and the offsets. Default 1s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// TransactionTimeout is the Kafka transaction timeout; it must exceed
	// commit_interval. Default 10s.
	TransactionTimeout time.Duration `yaml:"transaction_timeout"`
	// MaxBuffered is how many input records the merge may hold before the
	// partitions that run ahead are paused. Default 10000.
	MaxBuffered int `yaml:"max_buffered"`
}

var cepNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

func (c *CEPConfig) setDefaults() {
	orDefault(&c.Name, "cep")
	orDefault(&c.StateTopic, cepkafka.DefaultStateTopic)
	orDefault(&c.CommitInterval, cepkafka.DefaultCommitInterval)
	orDefault(&c.TransactionTimeout, cepkafka.DefaultTxTimeout)
	orDefault(&c.MaxBuffered, cepkafka.DefaultMaxBuffered)
}

func (c *CEPConfig) validate() error {
	var errs []error
	if c.Enabled && c.File == "" {
		errs = append(errs, invalidKey("file", "missing: cep.enabled needs a rule file"))
	}
	if !cepNameRE.MatchString(c.Name) {
		errs = append(errs, invalidKey("name", "%q: want lower-case letters, digits, '_', '-' and '.'", c.Name))
	}
	if c.CommitInterval <= 0 {
		errs = append(errs, invalidKey("commit_interval", "%s: want more than 0", c.CommitInterval))
	}
	if c.TransactionTimeout <= c.CommitInterval {
		errs = append(errs, invalidKey("transaction_timeout", "%s must exceed commit_interval %s", c.TransactionTimeout, c.CommitInterval))
	}
	if c.MaxBuffered < 1 {
		errs = append(errs, invalidKey("max_buffered", "%d: want 1 or more", c.MaxBuffered))
	}
	return errors.Join(errs...)
}

// RunnerConfig returns the cep/cepkafka configuration of the section for
// brokers, with the mapping's topic prefix for the defaults of topic and
// source. The caller sets the inputs, the client options, the upcaster,
// the logger and the metrics.
func (c *CEPConfig) RunnerConfig(k *KafkaConfig, brokers []string, topicPrefix string) cepkafka.Config {
	topic := c.Topic
	if topic == "" {
		topic = topicPrefix + "cep"
	}
	source := c.Source
	if source == "" {
		source = "cdcflow://cep"
		if p := strings.TrimSuffix(topicPrefix, "."); p != "" {
			source += "/" + p
		}
	}
	return cepkafka.Config{
		Brokers: brokers, Name: c.Name, TransactionalID: c.TransactionalID,
		Topic: topic, StateTopic: c.StateTopic, Source: source,
		Partitions: k.Topics.Partitions, ReplicationFactor: k.Topics.ReplicationFactor, Retention: time.Duration(k.Topics.Retention),
		CommitInterval: c.CommitInterval, TxTimeout: c.TransactionTimeout, MaxBuffered: c.MaxBuffered,
	}
}

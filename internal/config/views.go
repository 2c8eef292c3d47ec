package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/tlsconfig"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// ViewsConfig configures the Redis views: what `cdcflow materialize` and
// `cdcflow replay` build, and what `cdcflow run` materializes in the same
// process when Enabled is set.
type ViewsConfig struct {
	// Enabled makes `cdcflow run` materialize the views in the same process,
	// from the brokers it publishes to. Default false. `materialize` and
	// `replay` use this section whether or not it is set.
	Enabled bool `yaml:"enabled"`
	// File is the view definitions file (YAML, see docs/views.md), e.g.
	// deploy/examples/orders/views.yaml. Required to run the views.
	File string `yaml:"file"`
	// Redis is where the views live.
	Redis ViewsRedisConfig `yaml:"redis"`
	// Prefix is put before every Redis key of the views. Default "cdcflow:".
	// It must not contain braces (they are the Cluster hash tag).
	Prefix string `yaml:"prefix"`
	// Group is the Kafka consumer group of the materializers (a replay
	// reads without a group). Default "cdcflow-views".
	Group string `yaml:"group"`
	// InstanceID makes this materializer a static member of Group: restarted
	// with the same id (a container restarted in its Pod), it takes its
	// partitions back at once. Unique per running materializer; in
	// Kubernetes, the Pod's name. Default none (a dynamic member).
	InstanceID string `yaml:"instance_id"`
	// SessionTimeout is how long the group waits for a materializer that
	// stopped heartbeating (killed) before its partitions move to the
	// others. Default 10s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// DeadLetterTopic receives the events the views cannot project, with the
	// reason in headers. Default: the mapping's dead-letter topic.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// MaxPollRecords bounds the records of one poll; one partition's records
	// of a poll are applied as one atomic step. Default 1000.
	MaxPollRecords int `yaml:"max_poll_records"`
	// ReplayGrace is how long readers may keep using the old generation after
	// `cdcflow replay` swapped in the new one, before it is deleted. Default
	// 30s (zero means the default; `replay --grace 0` keeps the old one).
	ReplayGrace time.Duration `yaml:"replay_grace"`
}

// ViewsRedisConfig says how to reach Redis.
type ViewsRedisConfig struct {
	// Addrs are host:port addresses. Default ["127.0.0.1:6379"]. A single
	// node takes exactly one; a cluster takes one or more seed nodes.
	Addrs []string `yaml:"addrs"`
	// Cluster connects to a Redis Cluster. Default false.
	Cluster bool `yaml:"cluster"`
	// Username for Redis ACL authentication (AUTH username password).
	// Empty with a password means the "default" user.
	Username string `yaml:"username"`
	// Password for AUTH: a secret, never printed or logged. Set it from a
	// file with CDCFLOW_VIEWS_REDIS_PASSWORD_FILE.
	Password string `yaml:"password" secret:"true"`
	// DB is the database number of a single node. Default 0; a cluster has
	// only database 0.
	DB int `yaml:"db"`
	// TLS encrypts the connections to Redis.
	TLS ViewsRedisTLSConfig `yaml:"tls"`
	// DialTimeout bounds connecting to a node. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// PoolSize is the most connections the client keeps to each node.
	// Default 64: the query server answers that many reads at once
	// without queueing for a connection (go-redis's own default is 10 per
	// CPU).
	PoolSize int `yaml:"pool_size"`
}

// ViewsRedisTLSConfig configures TLS to Redis.
type ViewsRedisTLSConfig struct {
	// Enable turns TLS on. Default false. With no ca_file the system roots are trusted.
	Enable bool `yaml:"enable"`
	// CAFile is a PEM file of the certificate authorities to trust.
	CAFile string `yaml:"ca_file"`
	// CertFile is the PEM client certificate, for mutual TLS (with key_file).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of cert_file.
	KeyFile string `yaml:"key_file"`
	// ServerName overrides the name the server certificate is checked
	// against. Default: the host of each address.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables server certificate verification. Tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Defaults of the views section.
const (
	defaultViewsPrefix      = "cdcflow:"
	defaultViewsGroup       = "cdcflow-views"
	defaultViewsRedisAddr   = "127.0.0.1:6379"
	defaultViewsReplayGrace = 30 * time.Second
	defaultViewsDialTimeout = 5 * time.Second
	defaultViewsPoolSize    = 64
)

func (v *ViewsConfig) setDefaults() {
	if v.Prefix == "" {
		v.Prefix = defaultViewsPrefix
	}
	if v.Group == "" {
		v.Group = defaultViewsGroup
	}
	orDefault(&v.MaxPollRecords, redisview.DefaultMaxPollRecords)
	orDefault(&v.SessionTimeout, redisview.DefaultSessionTimeout)
	if v.ReplayGrace == 0 {
		v.ReplayGrace = defaultViewsReplayGrace
	}
}

func (v *ViewsConfig) validate() error {
	var errs []error
	if v.Enabled && v.File == "" {
		errs = append(errs, invalidKey("file", "required with views.enabled: the view definitions file, e.g. deploy/examples/orders/views.yaml"))
	}
	if strings.ContainsAny(v.Prefix, "{}") {
		errs = append(errs, invalidKey("prefix", "%q must not contain braces (they are the Redis Cluster hash tag)", v.Prefix))
	}
	if strings.ContainsAny(v.Prefix, "*?[]\\") {
		errs = append(errs, invalidKey("prefix", "%q must not contain *, ?, [, ] or \\ (they are special in SCAN MATCH, used to delete old generations)", v.Prefix))
	}
	if v.MaxPollRecords < 0 {
		errs = append(errs, invalidKey("max_poll_records", "negative"))
	}
	if v.ReplayGrace < 0 {
		errs = append(errs, invalidKey("replay_grace", "negative"))
	}
	if v.SessionTimeout < time.Second || v.SessionTimeout > 30*time.Minute {
		errs = append(errs, invalidKey("session_timeout", "%s: must be between 1s and 30m (and within the broker's group.min/max.session.timeout.ms)", v.SessionTimeout))
	}
	return errors.Join(errs...)
}

// Validate checks the views section and its redis section again, for a
// command whose flags changed them after Load. Keys are named relative to
// the section ("prefix", "addrs").
func (v *ViewsConfig) Validate() error {
	return errors.Join(v.validate(), v.Redis.validate())
}

func (r *ViewsRedisConfig) setDefaults() {
	if len(r.Addrs) == 0 {
		r.Addrs = []string{defaultViewsRedisAddr}
	}
	if r.DialTimeout == 0 {
		r.DialTimeout = defaultViewsDialTimeout
	}
	if r.PoolSize == 0 {
		r.PoolSize = defaultViewsPoolSize
	}
}

func (r *ViewsRedisConfig) validate() error {
	var errs []error
	for i, a := range r.Addrs {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			errs = append(errs, invalidKey("addrs", "item %d: %q is not host:port", i+1, a))
			continue
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, invalidKey("addrs", "item %d: %q has no valid port", i+1, a))
		}
	}
	if !r.Cluster && len(r.Addrs) > 1 {
		errs = append(errs, invalidKey("addrs", "%d addresses for a single node; set views.redis.cluster: true for a Redis Cluster", len(r.Addrs)))
	}
	switch {
	case r.DB < 0:
		errs = append(errs, invalidKey("db", "negative"))
	case r.DB != 0 && r.Cluster:
		errs = append(errs, invalidKey("db", "a Redis Cluster has only database 0"))
	}
	if r.DialTimeout < 0 {
		errs = append(errs, invalidKey("dial_timeout", "negative"))
	}
	if r.PoolSize < 0 {
		errs = append(errs, invalidKey("pool_size", "negative"))
	}
	if r.Username != "" && r.Password == "" {
		errs = append(errs, invalidKey("password", "required with views.redis.username (or CDCFLOW_VIEWS_REDIS_PASSWORD_FILE)"))
	}
	return errors.Join(errs...)
}

func (t *ViewsRedisTLSConfig) validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return invalidKey("", "cert_file and key_file go together")
	}
	return nil
}

// Client returns a Redis client for the configuration: a *redis.ClusterClient
// in cluster mode, a *redis.Client otherwise. It dials nothing yet.
func (r *ViewsRedisConfig) Client() (redis.UniversalClient, error) {
	var tc *tls.Config
	if r.TLS.Enable {
		var err error
		if tc, err = tlsconfig.Client(r.TLS.CAFile, r.TLS.CertFile, r.TLS.KeyFile, r.TLS.InsecureSkipVerify); err != nil {
			return nil, fmt.Errorf("views.redis.tls: %w", err)
		}
		tc.ServerName = r.TLS.ServerName
	}
	if r.Cluster {
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: r.Addrs, Username: r.Username, Password: r.Password,
			TLSConfig: tc, DialTimeout: r.DialTimeout, PoolSize: r.PoolSize,
		}), nil
	}
	if tc != nil && tc.ServerName == "" {
		// go-redis fills in the host for a cluster's nodes itself, not for
		// a single node.
		tc.ServerName, _, _ = net.SplitHostPort(r.Addrs[0])
	}
	return redis.NewClient(&redis.Options{
		Addr: r.Addrs[0], Username: r.Username, Password: r.Password, DB: r.DB,
		TLSConfig: tc, DialTimeout: r.DialTimeout, PoolSize: r.PoolSize,
	}), nil
}

// ConsumerOpts returns the franz-go options that connect and authenticate
// the views' consumer to the configured brokers with the kafka section's TLS
// and SASL settings. The embedded broker (no kafka.brokers) takes neither.
func (k *KafkaConfig) ConsumerOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.ClientID(k.ClientID)}
	if len(k.Brokers) == 0 {
		return opts, nil
	}
	sec, err := k.PublisherConfig(k.Brokers).SecurityOpts()
	if err != nil {
		return nil, fmt.Errorf("kafka.tls: %w", err)
	}
	return append(opts, sec...), nil
}

// Package viewsetup assembles the materializer of the Redis views from
// plain values: it checks the view definitions against the mapping, selects
// the views that fold the CEP rules' derived events and the topics every
// view reads, builds the redisview configurations, and runs the consumer
// of the current generation, following the generation pointer when a
// replay swaps in a new one. `cdcflow materialize`, `replay`, `run` (with
// views.enabled) and `quickstart` share it; cmd builds the Redis client,
// the logger and the metrics and hands them in.
//
// It never imports cmd or the configuration (internal/config), capture or
// PostgreSQL. Materialize blocks; a Setup is otherwise read-only after New
// and safe for concurrent use.
package viewsetup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// Config is the views section of the configuration, in plain values.
type Config struct {
	// File names the view definitions file in errors (views.file).
	File string
	// MappingFile names the mapping file in errors (mapping.file).
	MappingFile string
	// Prefix is the prefix of every Redis key (views.prefix).
	Prefix string
	// RedisAddrs name the Redis servers in errors (views.redis.addrs).
	RedisAddrs []string
	// Group is the Kafka consumer group (views.group).
	Group string
	// InstanceID is the static group member id (views.instance_id); ""
	// means a dynamic member.
	InstanceID string
	// SessionTimeout is the group session timeout; 0 means redisview's
	// default.
	SessionTimeout time.Duration
	// MaxPollRecords bounds the records of one poll; 0 means redisview's
	// default.
	MaxPollRecords int
	// DeadLetterTopic receives the events no view can fold; "" means the
	// mapping's dead-letter topic.
	DeadLetterTopic string
	// ClientOpts connect the consumer (TLS, SASL of the kafka section).
	ClientOpts []kgo.Opt
	// Rules are the CEP rules (cep.file) whose derived events views may
	// fold; nil when there are none. RulesFile names them in errors.
	Rules     *cep.Rules
	RulesFile string
	// DerivedTopic is the topic of the rules' derived events (cep.topic);
	// "" means the mapping's topic prefix + "cep", cdcflow cep's default.
	DerivedTopic string
	// Logger receives the materializer's records; nil discards them.
	Logger *slog.Logger
}

// Setup is what the view commands build from a Config: the definitions,
// the topics they read, and the mapping that upcasts their events.
type Setup struct {
	cfg     Config
	log     *slog.Logger
	mapping *pipeline.Mapping
	defs    *redisview.Definitions
	topics  []string
	// sourceTopics are the mapping's topics among topics (not the derived
	// events'), sorted: what the applied position stands on.
	sourceTopics []string
}

// New parses the view definitions src and checks that every view follows
// an aggregate type the mapping produces. When cfg.Rules is set and views
// fold the types the rules derive (the reference example's overdue views),
// those views read the derived events' topic, and the mapping learns the
// derived types so that it upcasts them; an aggregate type whose views fold
// both mapped and derived events is refused: the views' position guard is
// one per aggregate and orders one stream, and the derived events reach the
// view later than the mapped events after them, so the guard would drop
// them as stale (docs/views.md).
func New(cfg Config, src []byte, mapping *pipeline.Mapping) (*Setup, error) {
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	s := &Setup{cfg: cfg, log: log.With("component", "views"), mapping: mapping, defs: defs}
	for _, agg := range defs.AggregateTypes() {
		if !slices.Contains(mapping.AggregateTypes(), agg) {
			return nil, fmt.Errorf("%s: the views follow aggregate %q, which the mapping %s does not produce", cfg.File, agg, cfg.MappingFile)
		}
	}
	topic, derivedAggs, m, err := s.derivedViews()
	if err != nil {
		return nil, err
	}
	for _, agg := range defs.AggregateTypes() {
		if !derivedAggs[agg] {
			s.topics = append(s.topics, mapping.Topic(agg))
		}
	}
	// The applied position stands on the mapping's topics, which carry
	// progress records to every partition; the derived events' topic has
	// none, so it neither holds nor moves that position.
	s.sourceTopics = slices.Compact(slices.Sorted(slices.Values(s.topics)))
	if topic != "" {
		s.mapping = m // upcasts the derived events too
		s.topics = append(s.topics, topic)
	}
	return s, nil
}

// derivedViews returns the topic of the rules' derived events, the
// aggregate types whose views fold only derived events, and the mapping
// that knows the derived types; "", nil and the mapping when no view
// follows a derived type.
func (s *Setup) derivedViews() (string, map[string]bool, *pipeline.Mapping, error) {
	rs := s.cfg.Rules
	if rs == nil {
		return "", nil, s.mapping, nil
	}
	onDerived, err := s.defs.DerivedOnly(rs.DerivedTypes())
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s (rules %s): %w", s.cfg.File, s.cfg.RulesFile, err)
	}
	if len(onDerived) == 0 {
		return "", nil, s.mapping, nil
	}
	ds, err := rs.DerivedSchemas(s.mapping)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %w", s.cfg.RulesFile, err)
	}
	types := make([]pipeline.EventType, 0, len(ds))
	for _, d := range ds {
		types = append(types, pipeline.EventType{Type: d.Type, AggregateType: d.AggregateType, Version: d.Version})
	}
	return cmp.Or(s.cfg.DerivedTopic, s.mapping.Topic("cep")), onDerived, s.mapping.WithDerived(types), nil
}

// Definitions returns the parsed view definitions.
func (s *Setup) Definitions() *redisview.Definitions { return s.defs }

// Topics returns the topics the views read: the mapping's topics of the
// aggregates they follow, then the derived events' topic when views fold
// derived events.
func (s *Setup) Topics() []string { return slices.Clone(s.topics) }

// SourceTopics returns the mapping's topics among Topics, sorted: the
// topics the views' applied position stands on.
func (s *Setup) SourceTopics() []string { return slices.Clone(s.sourceTopics) }

// Logger returns the views' logger (component=views).
func (s *Setup) Logger() *slog.Logger { return s.log }

// ViewsConfig is the redisview configuration of the views, generation 0
// (the caller sets the generation it applies to).
func (s *Setup) ViewsConfig(metrics *redisview.Metrics) redisview.Config {
	// Partition N of every topic shares the applied position: it is the
	// lowest of the mapping's topics' (docs/query.md, "Freshness").
	return redisview.Config{Prefix: s.cfg.Prefix, Upcast: s.mapping.Upcast, Logger: s.log, Metrics: metrics, Topics: s.sourceTopics}
}

// ConsumerConfig is the redisview consumer configuration on brokers.
func (s *Setup) ConsumerConfig(brokers []string) redisview.ConsumerConfig {
	return redisview.ConsumerConfig{
		Brokers: brokers, Group: s.cfg.Group, Topics: s.topics,
		InstanceID: s.cfg.InstanceID, SessionTimeout: s.cfg.SessionTimeout,
		MaxPollRecords: s.cfg.MaxPollRecords, ClientOpts: s.cfg.ClientOpts, Logger: s.log,
	}
}

// DeadLetterTopic is Config.DeadLetterTopic, or the mapping's.
func (s *Setup) DeadLetterTopic() string {
	return cmp.Or(s.cfg.DeadLetterTopic, s.mapping.DeadLetterTopic())
}

// Materialize consumes the event topics on brokers into the current
// generation of the views in rdb until ctx is done or a fatal error,
// following the generation pointer when a replay swaps in a new one; the
// first materializer starts generation 1. ready, when not nil, is set once
// the first consumer runs. It blocks; it returns ctx's error when ctx ends.
func (s *Setup) Materialize(ctx context.Context, rdb redis.UniversalClient, brokers []string, metrics *redisview.Metrics, ready *atomic.Bool) error {
	prefix := s.cfg.Prefix
	where := "redis " + strings.Join(s.cfg.RedisAddrs, ",")
	for {
		gen, err := redisview.CurrentGeneration(ctx, rdb, prefix)
		if err != nil {
			return fmt.Errorf("%s (views.redis): %w", where, err)
		}
		if gen == 0 {
			if err := redisview.Swap(ctx, rdb, prefix, 0, 1); err != nil && !errors.Is(err, redisview.ErrSwapped) {
				return err
			}
			continue
		}
		vc := s.ViewsConfig(metrics)
		vc.Generation = gen
		views, err := redisview.New(vc, s.defs, rdb)
		if err != nil {
			return err
		}
		if err := views.Preflight(ctx); err != nil {
			return fmt.Errorf("%s (views.redis): %w", where, err)
		}
		cc := s.ConsumerConfig(brokers)
		cc.DeadLetterTopic, cc.FollowPointer = s.DeadLetterTopic(), true
		c, err := redisview.NewConsumer(cc, views)
		if err != nil {
			return err
		}
		if ready != nil {
			ready.Store(true)
		}
		s.log.Info("materializing", "generation", gen, "topics", s.topics, "group", cc.Group)
		err = c.Run(ctx)
		if errors.Is(err, redisview.ErrGenerationChanged) {
			s.log.Info("generation changed: handing over", "from", gen)
			continue
		}
		return err
	}
}

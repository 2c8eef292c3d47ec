package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/metricsserver"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func init() {
	register(command{
		name:    "materialize",
		summary: "keep the Redis views up to date from the Kafka event topics",
		run:     runMaterialize,
		example: "cdcflow materialize --config cdcflow.yaml",
	})
}

// viewFlags are the flags materialize and replay share. Each overrides the
// views section of the configuration when given.
type viewFlags struct {
	config, mapping, views, redis, prefix, group *string
}

func addViewFlags(fs *flag.FlagSet) viewFlags {
	return viewFlags{
		config:  configFlag(fs),
		mapping: fs.String("mapping", "", "mapping `file` (default: mapping.file)"),
		views:   fs.String("views", "", "view definitions `file` (default: views.file)"),
		redis:   fs.String("redis", "", "Redis `address` of a single node (default: views.redis.addrs)"),
		prefix:  fs.String("prefix", "", "`prefix` of every Redis key (default: views.prefix)"),
		group:   fs.String("group", "", "Kafka consumer `group` (default: views.group)"),
	}
}

// load reads the configuration and applies the flags given over it.
func (f viewFlags) load() (*config.Config, error) {
	cfg, err := config.Load(*f.config, os.Environ())
	if err != nil {
		return nil, err
	}
	if *f.mapping != "" {
		cfg.Mapping.File = *f.mapping
	}
	v := &cfg.Views
	if *f.views != "" {
		v.File = *f.views
	}
	if *f.redis != "" {
		v.Redis.Addrs, v.Redis.Cluster = []string{*f.redis}, false
	}
	if *f.prefix != "" {
		v.Prefix = *f.prefix
	}
	if *f.group != "" {
		v.Group = *f.group
	}
	// The flags may have changed what validation saw.
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("%w: views with the flags: %w", errUsage, err)
	}
	return cfg, nil
}

// viewSetup is what the view commands, and `cdcflow run` with views.enabled,
// build from the configuration: the definitions, the mapping's topics and
// upcasters, and a Redis client.
type viewSetup struct {
	cfg     *config.Config
	log     *slog.Logger
	mapping *pipeline.Mapping
	defs    *redisview.Definitions
	rdb     redis.UniversalClient
	topics  []string // the topics the views read
	// sourceTopics are the mapping's topics among them (not the derived
	// events'), sorted: what the applied position stands on.
	sourceTopics []string
	// kafkaOpts connect the consumer (TLS, SASL of the kafka section).
	kafkaOpts []kgo.Opt
}

// newViewSetup loads the view definitions named by cfg.Views.File and
// builds the Redis client; the caller closes s.rdb.
func newViewSetup(cfg *config.Config, mapping *pipeline.Mapping, log *slog.Logger) (*viewSetup, error) {
	if cfg.Views.File == "" {
		return nil, fmt.Errorf("%w: views.file (CDCFLOW_VIEWS_FILE, or --views) names no view definitions file", errUsage)
	}
	src, err := os.ReadFile(cfg.Views.File)
	if err != nil {
		return nil, fmt.Errorf("views.file: %w", err)
	}
	return newViewSetupFrom(cfg, mapping, log, src)
}

// newViewSetupFrom is newViewSetup on the definitions src, named by
// cfg.Views.File in errors.
func newViewSetupFrom(cfg *config.Config, mapping *pipeline.Mapping, log *slog.Logger, src []byte) (*viewSetup, error) {
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Views.File, err)
	}
	s := &viewSetup{cfg: cfg, log: log.With("component", "views"), mapping: mapping, defs: defs}
	for _, agg := range defs.AggregateTypes() {
		if !slices.Contains(mapping.AggregateTypes(), agg) {
			return nil, fmt.Errorf("%s: the views follow aggregate %q, which the mapping %s does not produce", cfg.Views.File, agg, cfg.Mapping.File)
		}
	}
	topic, derivedAggs, m, err := derivedViews(cfg, mapping, defs)
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
	if s.kafkaOpts, err = cfg.Kafka.ConsumerOpts(); err != nil {
		return nil, err
	}
	if s.rdb, err = cfg.Views.Redis.Client(); err != nil {
		return nil, err
	}
	// go-redis logs connection trouble through a package-level logger,
	// by default to stderr in its own format: route it to ours.
	redis.SetLogger(redisLogger{log: log.With("component", "redis")})
	return s, nil
}

// redisLogger passes go-redis's own messages (pool and dial trouble; they
// carry no credentials) to slog at warn level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// viewsConfig is the redisview configuration of the views.
func (s *viewSetup) viewsConfig(metrics *redisview.Metrics) redisview.Config {
	// Partition N of every topic shares the applied position: it is the
	// lowest of the mapping's topics' (docs/query.md, "Freshness").
	return redisview.Config{Prefix: s.cfg.Views.Prefix, Upcast: s.mapping.Upcast, Logger: s.log, Metrics: metrics, Topics: s.sourceTopics}
}

// consumerConfig is the redisview consumer configuration for brokers.
func (s *viewSetup) consumerConfig(brokers []string) redisview.ConsumerConfig {
	return redisview.ConsumerConfig{
		Brokers: brokers, Group: s.cfg.Views.Group, Topics: s.topics,
		InstanceID: s.cfg.Views.InstanceID, SessionTimeout: s.cfg.Views.SessionTimeout,
		MaxPollRecords: s.cfg.Views.MaxPollRecords, ClientOpts: s.kafkaOpts, Logger: s.log,
	}
}

// deadLetterTopic is views.dead_letter_topic, or the mapping's.
func (s *viewSetup) deadLetterTopic() string {
	if s.cfg.Views.DeadLetterTopic != "" {
		return s.cfg.Views.DeadLetterTopic
	}
	return s.mapping.DeadLetterTopic()
}

// materialize consumes the event topics on brokers into the current
// generation of the views until ctx is done, following the generation
// pointer when a replay swaps in a new one. ready, when not nil, is set once
// the first consumer runs.
func (s *viewSetup) materialize(ctx context.Context, brokers []string, metrics *redisview.Metrics, ready *atomic.Bool) error {
	prefix := s.cfg.Views.Prefix
	where := "redis " + strings.Join(s.cfg.Views.Redis.Addrs, ",")
	for {
		gen, err := redisview.CurrentGeneration(ctx, s.rdb, prefix)
		if err != nil {
			return fmt.Errorf("%s (views.redis): %w", where, err)
		}
		if gen == 0 {
			// The first materializer starts generation 1.
			if err := redisview.Swap(ctx, s.rdb, prefix, 0, 1); err != nil && !errors.Is(err, redisview.ErrSwapped) {
				return err
			}
			continue
		}
		vc := s.viewsConfig(metrics)
		vc.Generation = gen
		views, err := redisview.New(vc, s.defs, s.rdb)
		if err != nil {
			return err
		}
		if err := views.Preflight(ctx); err != nil {
			return fmt.Errorf("%s (views.redis): %w", where, err)
		}
		cc := s.consumerConfig(brokers)
		cc.DeadLetterTopic, cc.FollowPointer = s.deadLetterTopic(), true
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

// materializeService returns the flow service `cdcflow run` starts when
// views.enabled is set: the materializer, on the flow's brokers and metrics
// registry.
func (s *viewSetup) materializeService() func(ctx context.Context, reg *prometheus.Registry, brokers []string) error {
	return func(ctx context.Context, reg *prometheus.Registry, brokers []string) error {
		err := s.materialize(ctx, brokers, redisview.NewMetrics(reg), nil)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("views: %w", err)
		}
		return err
	}
}

// viewCommandSetup is the common start of materialize and replay: the
// configuration with the flags, the logger, the mapping, and a metrics
// registry.
func viewCommandSetup(f viewFlags, stderr io.Writer) (*viewSetup, *prometheus.Registry, error) {
	cfg, err := f.load()
	if err != nil {
		return nil, nil, err
	}
	if len(cfg.Kafka.Brokers) == 0 {
		// Beside a cdcflow run on the embedded broker, on the same data
		// directory: read from its broker.
		if cfg.Kafka.Brokers, err = embeddedBrokers(cfg); err != nil {
			return nil, nil, err
		}
	}
	mapping, err := config.LoadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		return nil, nil, err
	}
	s, err := newViewSetup(cfg, mapping, cfg.Log.Logger(stderr))
	if err != nil {
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s, reg, nil
}

// runMaterialize consumes the event topics into the current generation of
// the views, following the generation pointer when a replay swaps in a new
// one.
func runMaterialize(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("materialize", stderr)
	f := addViewFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, reg, err := viewCommandSetup(f, stderr)
	if err != nil {
		return err
	}
	defer s.rdb.Close()
	// Generations a killed replay left behind (docs/views.md).
	collected, err := redisview.CollectGenerations(ctx, s.rdb, s.cfg.Views.Prefix)
	if err != nil {
		return err
	}
	if len(collected) > 0 {
		s.log.Info("deleted generations nobody uses", "generations", collected)
	}
	metrics := redisview.NewMetrics(reg)
	var ready atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	if s.cfg.Metrics.Addr != "" {
		readyz := metricsserver.Ready(&ready)
		metricsserver.RegisterProcess(reg, "materialize", buildVersion(), readyz)
		g.Go(func() error { return metricsserver.Serve(gctx, s.cfg.Metrics.Addr, reg, readyz) })
	}
	g.Go(func() error { return s.materialize(gctx, s.cfg.Kafka.Brokers, metrics, &ready) })
	if s.cfg.Query.Addr != "" {
		g.Go(func() error { return serveQuery(gctx, s.cfg, s.defs, s.rdb, reg, s.log, false, nil) })
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		s.log.Info("stopped: every batch applied is stored with its offsets; the next start resumes from them")
		return nil
	}
	return err
}

// derivedViews returns the topic of the CEP rules' derived events
// (cep.topic, or the mapping's prefix + "cep"), the aggregate types whose
// views fold only derived events, and the mapping that knows the derived
// types, when cep.file is set and a view folds, keeps or deletes on one of
// the types the rules derive (the reference example's overdue views). An
// aggregate type whose views fold both mapped and derived events is refused:
// the views' position guard is one per aggregate and orders one stream, and
// the derived events reach the view later than the mapped events after
// them, so the guard would drop them as stale (docs/views.md). It returns
// "", nil and mapping when no view follows a derived type.
func derivedViews(cfg *config.Config, mapping *pipeline.Mapping, defs *redisview.Definitions) (string, map[string]bool, *pipeline.Mapping, error) {
	if cfg.CEP.File == "" {
		return "", nil, mapping, nil
	}
	rs, err := parseRulesFile(cfg.CEP.File)
	if err != nil {
		return "", nil, nil, err
	}
	onDerived, err := defs.DerivedOnly(rs.DerivedTypes())
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s (rules %s): %w", cfg.Views.File, cfg.CEP.File, err)
	}
	if len(onDerived) == 0 {
		return "", nil, mapping, nil
	}
	ds, err := rs.DerivedSchemas(mapping)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %w", cfg.CEP.File, err)
	}
	types := make([]pipeline.EventType, 0, len(ds))
	for _, d := range ds {
		types = append(types, pipeline.EventType{Type: d.Type, AggregateType: d.AggregateType, Version: d.Version})
	}
	return cmp.Or(cfg.CEP.Topic, mapping.Topic("cep")), onDerived, mapping.WithDerived(types), nil
}

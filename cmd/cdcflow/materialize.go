package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func init() {
	register(command{
		name:    "materialize",
		summary: "keep the Redis views up to date from the Kafka event topics",
		run:     runMaterialize,
	})
}

// viewFlags are the flags materialize and replay share. There is no views
// section in the configuration file yet, so the views' settings are flags;
// Kafka brokers, the mapping (topics, dead-letter topic, upcasters), metrics
// and logging come from the configuration.
type viewFlags struct {
	config, mapping, views, redis, prefix, group *string
}

func addViewFlags(fs *flag.FlagSet) viewFlags {
	return viewFlags{
		config:  configFlag(fs),
		mapping: fs.String("mapping", "", "mapping `file` (default: mapping.file)"),
		views:   fs.String("views", "", "view definitions `file` (required)"),
		redis:   fs.String("redis", "127.0.0.1:6379", "Redis `address`"),
		prefix:  fs.String("prefix", "cdcflow:", "`prefix` of every Redis key"),
		group:   fs.String("group", "cdcflow-views", "Kafka consumer `group`"),
	}
}

// viewSetup is what both commands build from the flags and the configuration.
type viewSetup struct {
	cfg     *Config
	log     *slog.Logger
	reg     *prometheus.Registry
	mapping *pipeline.Mapping
	defs    *redisview.Definitions
	rdb     *redis.Client
	topics  []string
}

func (f viewFlags) setup(stderr io.Writer) (*viewSetup, error) {
	cfg, err := loadConfig(*f.config, os.Environ())
	if err != nil {
		return nil, err
	}
	if *f.mapping != "" {
		cfg.Mapping.File = *f.mapping
	}
	if *f.views == "" {
		return nil, fmt.Errorf("%w: --views is required", errUsage)
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return nil, fmt.Errorf("%w: the views consume from kafka.brokers (CDCFLOW_KAFKA_BROKERS); the embedded broker runs inside cdcflow run", errUsage)
	}
	mapping, err := loadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(*f.views)
	if err != nil {
		return nil, fmt.Errorf("read views: %w", err)
	}
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", *f.views, err)
	}
	s := &viewSetup{cfg: cfg, log: cfg.Log.logger(stderr), reg: prometheus.NewRegistry(), mapping: mapping, defs: defs}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, agg := range defs.AggregateTypes() {
		s.topics = append(s.topics, mapping.Topic(agg))
	}
	s.rdb = redis.NewClient(&redis.Options{Addr: *f.redis})
	return s, nil
}

func (s *viewSetup) viewsConfig(prefix string, metrics *redisview.Metrics) redisview.Config {
	return redisview.Config{Prefix: prefix, Upcast: s.mapping.Upcast, Logger: s.log, Metrics: metrics}
}

// runMaterialize consumes the event topics into the current generation of
// the views, following the generation pointer when a replay swaps in a new
// one.
func runMaterialize(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("materialize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := addViewFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	s, err := f.setup(stderr)
	if err != nil {
		return err
	}
	defer s.rdb.Close()
	metrics := redisview.NewMetrics(s.reg)
	var ready atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	if s.cfg.Metrics.Addr != "" {
		g.Go(func() error { return serveTailMetrics(gctx, s.cfg.Metrics.Addr, s.reg, &ready) })
	}
	g.Go(func() error {
		for {
			gen, err := redisview.CurrentGeneration(gctx, s.rdb, *f.prefix)
			if err != nil {
				return err
			}
			if gen == 0 {
				// The first materializer starts generation 1.
				if err := redisview.Swap(gctx, s.rdb, *f.prefix, 0, 1); err != nil && !errors.Is(err, redisview.ErrSwapped) {
					return err
				}
				continue
			}
			vc := s.viewsConfig(*f.prefix, metrics)
			vc.Generation = gen
			views, err := redisview.New(vc, s.defs, s.rdb)
			if err != nil {
				return err
			}
			if err := views.Preflight(gctx); err != nil {
				return err
			}
			c, err := redisview.NewConsumer(redisview.ConsumerConfig{
				Brokers: s.cfg.Kafka.Brokers, Group: *f.group, Topics: s.topics,
				DeadLetterTopic: s.mapping.DeadLetterTopic(), FollowPointer: true, Logger: s.log,
			}, views)
			if err != nil {
				return err
			}
			ready.Store(true)
			s.log.Info("materializing", "generation", gen, "topics", s.topics)
			err = c.Run(gctx)
			if errors.Is(err, redisview.ErrGenerationChanged) {
				s.log.Info("generation changed: handing over", "from", gen)
				continue
			}
			return err
		}
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

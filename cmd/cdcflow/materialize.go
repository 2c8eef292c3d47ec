package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/metricsserver"
	"github.com/cdcflow/cdcflow/internal/viewsetup"
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
// build from the configuration: the views (package viewsetup: definitions,
// topics, upcasters) and a Redis client.
type viewSetup struct {
	*viewsetup.Setup
	cfg *config.Config
	log *slog.Logger
	rdb redis.UniversalClient
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
	v := &cfg.Views
	vc := viewsetup.Config{
		File: v.File, MappingFile: cfg.Mapping.File, Prefix: v.Prefix, RedisAddrs: v.Redis.Addrs,
		Group: v.Group, InstanceID: v.InstanceID, SessionTimeout: v.SessionTimeout, MaxPollRecords: v.MaxPollRecords,
		DeadLetterTopic: v.DeadLetterTopic, RulesFile: cfg.CEP.File, DerivedTopic: cfg.CEP.Topic, Logger: log,
	}
	var err error
	if cfg.CEP.File != "" {
		// Views may fold the events the rules derive.
		if vc.Rules, err = parseRulesFile(cfg.CEP.File); err != nil {
			return nil, err
		}
	}
	// The definitions' problems come before the client options'.
	var optsErr error
	vc.ClientOpts, optsErr = cfg.Kafka.ConsumerOpts()
	vs, err := viewsetup.New(vc, src, mapping)
	if err != nil {
		return nil, err
	}
	if optsErr != nil {
		return nil, optsErr
	}
	s := &viewSetup{Setup: vs, cfg: cfg, log: vs.Logger()}
	if s.rdb, err = v.Redis.Client(); err != nil {
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

// materializeService returns the flow service `cdcflow run` starts when
// views.enabled is set: the materializer, on the flow's brokers and metrics
// registry.
func (s *viewSetup) materializeService() func(ctx context.Context, reg *prometheus.Registry, brokers []string) error {
	return func(ctx context.Context, reg *prometheus.Registry, brokers []string) error {
		err := s.Materialize(ctx, s.rdb, brokers, redisview.NewMetrics(reg), nil)
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
	g.Go(func() error { return s.Materialize(gctx, s.rdb, s.cfg.Kafka.Brokers, metrics, &ready) })
	if s.cfg.Query.Addr != "" {
		g.Go(func() error { return serveQuery(gctx, s.cfg, s.Definitions(), s.rdb, reg, s.log, false, nil) })
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		s.log.Info("stopped: every batch applied is stored with its offsets; the next start resumes from them")
		return nil
	}
	return err
}

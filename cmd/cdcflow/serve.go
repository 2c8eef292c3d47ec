package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/metricsserver"
	"github.com/cdcflow/cdcflow/query"
	"github.com/cdcflow/cdcflow/query/dashboard"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func init() {
	register(command{
		name:    "serve",
		summary: "serve the Redis views over HTTP: the JSON API, live streams and the dashboard",
		description: "It needs only Redis and the view definitions (views.file, views.redis, views.prefix) and\n" +
			"kafka.topics.partitions, the event topics' partition count. See docs/query.md.",
		run:     runServe,
		example: "cdcflow serve --config cdcflow.yaml --addr 127.0.0.1:8080",
	})
}

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	cfgPath := configFlag(fs)
	addr := fs.String("addr", "", "listen `address` (default: query.addr)")
	views := fs.String("views", "", "view definitions `file` (default: views.file)")
	redisAddr := fs.String("redis", "", "Redis `address` of a single node (default: views.redis.addrs)")
	prefix := fs.String("prefix", "", "`prefix` of every Redis key (default: views.prefix)")
	parts := fs.Int("partitions", 0, "`count` of partitions of the event topics (default: kafka.topics.partitions)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		return err
	}
	for flag, key := range map[*string]*string{addr: &cfg.Query.Addr, views: &cfg.Views.File, prefix: &cfg.Views.Prefix} {
		if *flag != "" {
			*key = *flag
		}
	}
	if *redisAddr != "" {
		cfg.Views.Redis.Addrs, cfg.Views.Redis.Cluster = []string{*redisAddr}, false
	}
	if *parts > 0 {
		cfg.Kafka.Topics.Partitions = int32(*parts)
	}
	if err := cfg.Views.Validate(); err != nil {
		return fmt.Errorf("%w: views with the flags: %w", errUsage, err)
	}
	if cfg.Query.Addr == "" {
		return fmt.Errorf("%w: query.addr (CDCFLOW_QUERY_ADDR, or --addr) names no listen address", errUsage)
	}
	if cfg.Views.File == "" {
		return fmt.Errorf("%w: views.file (CDCFLOW_VIEWS_FILE, or --views) names no view definitions file", errUsage)
	}
	src, err := os.ReadFile(cfg.Views.File)
	if err != nil {
		return fmt.Errorf("views.file: %w", err)
	}
	defs, err := redisview.ParseDefinitions(src)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Views.File, err)
	}
	rdb, err := cfg.Views.Redis.Client()
	if err != nil {
		return err
	}
	defer rdb.Close()
	log := cfg.Log.Logger(stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g, gctx := errgroup.WithContext(ctx)
	if cfg.Metrics.Addr != "" {
		g.Go(func() error { return metricsserver.Serve(gctx, cfg.Metrics.Addr, reg, func() error { return nil }) })
	}
	g.Go(func() error { return serveQuery(gctx, cfg, defs, rdb, reg, log, false, nil) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// serveQuery runs the query server of cfg.Query over the views until ctx is
// done: in `serve`, and beside `run` (pipeline, with the flow's stages in
// /v1/health) and `materialize`. announce, when not nil, gets the address
// it listens on. The lifecycle is query.Run's; this turns the
// configuration into its RunConfig.
func serveQuery(ctx context.Context, cfg *config.Config, defs *redisview.Definitions, rdb redis.UniversalClient, reg *prometheus.Registry, log *slog.Logger, pipeline bool, announce func(string)) error {
	qc, err := cfg.Query.ServerConfig()
	if err != nil {
		return err
	}
	qc.Logger, qc.Metrics, qc.Dashboard = log.With("component", "query"), query.NewMetrics(reg), dashboard.Handler()
	if pipeline {
		qc.Health = query.GathererHealth(reg)
	}
	return query.Run(ctx, query.RunConfig{Server: qc, Addr: cfg.Query.Addr, Prefix: cfg.Views.Prefix,
		Partitions: int(cfg.Kafka.Topics.Partitions), Log: log, Announce: announce}, defs, rdb)
}

// queryService is serveQuery as a flow service of `cdcflow run`.
func (s *viewSetup) queryService(announce func(string)) func(ctx context.Context, reg *prometheus.Registry, brokers []string) error {
	return func(ctx context.Context, reg *prometheus.Registry, _ []string) error {
		return serveQuery(ctx, s.cfg, s.Definitions(), s.rdb, reg, s.log, true, announce)
	}
}

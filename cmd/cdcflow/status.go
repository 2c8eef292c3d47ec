package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/progress"
	"github.com/cdcflow/cdcflow/internal/status"
	"github.com/cdcflow/cdcflow/internal/thresholds"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func init() {
	register(command{
		name:    "status",
		summary: "show where every stage stands (PostgreSQL, slot, Kafka, views) with a verdict per line",
		description: "It reads PostgreSQL, Kafka and Redis directly, so it works whether or not cdcflow run is up,\n" +
			"and adds the live process's figures when metrics.addr answers. Every line is judged ok, warn\n" +
			"or fail against the thresholds the alert rules are generated from. Exit status 1 on a fail.",
		run:     runStatus,
		example: "cdcflow status --config cdcflow.yaml\ncdcflow status --config cdcflow.yaml --json | jq .verdict\ncdcflow status --config cdcflow.yaml --watch 2s",
	})
}

// errStatusFailed is returned when a line of the status is a fail.
var errStatusFailed = errors.New("a line failed (see above)")

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	path := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	watch := fs.Duration("watch", 0, "gather and print again every `interval` (e.g. 2s) until interrupted")
	thFile := fs.String("thresholds", "", "thresholds `file` to judge with (default: the built-in internal/thresholds/thresholds.yaml)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	th := thresholds.Default()
	if *thFile != "" {
		if th, err = thresholds.Load(*thFile); err != nil {
			return fmt.Errorf("--thresholds: %w", err)
		}
	}
	mapping, err := config.LoadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		return err
	}
	sc := status.Config{
		SourceDSN: cfg.Source.DSN, Slot: cfg.ReplicationConfig().Slot,
		ViewsPrefix: cfg.Views.Prefix, MetricsAddr: cfg.Metrics.Addr, Thresholds: th,
	}
	sc.Failover, sc.StandbyDSN = cfg.Source.FailoverSlot, cfg.Source.StandbyDSN
	for _, a := range mapping.AggregateTypes() {
		sc.Topics = append(sc.Topics, mapping.Topic(a))
	}
	brokers := cfg.Kafka.Brokers
	if len(brokers) == 0 {
		dir := filepath.Join(cfg.DataDir, "kafka")
		var recorded []string
		if addr, err := readBrokerAddr(dir); err == nil {
			recorded = strings.Split(addr, ",")
		}
		var stop func()
		brokers, stop, sc.KafkaNote = status.EmbeddedBroker(ctx, dir, recorded)
		defer stop()
	}
	sc.Kafka = cfg.Kafka.PublisherConfig(brokers)
	sc.DeadLetterTopics = []string{cmp.Or(sc.Kafka.DeadLetterTopic, mapping.DeadLetterTopic()), cmp.Or(cfg.Views.DeadLetterTopic, mapping.DeadLetterTopic())}
	if cfg.Views.File != "" {
		src, err := os.ReadFile(cfg.Views.File)
		if err != nil {
			return fmt.Errorf("views.file: %w", err)
		}
		defs, err := redisview.ParseDefinitions(src)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.Views.File, err)
		}
		for _, a := range defs.AggregateTypes() {
			sc.ViewTopics = append(sc.ViewTopics, mapping.Topic(a))
		}
		if sc.Redis, err = cfg.Views.Redis.Client(); err != nil {
			return err
		}
		defer sc.Redis.Close()
	}

	render := status.Render
	if *asJSON {
		render = status.RenderJSON
	}
	if *watch > 0 {
		return status.Watch(ctx, sc, *watch, stdout, !*asJSON && progress.IsTerminal(stdout), render)
	}
	s, err := status.Gather(ctx, sc)
	if err != nil {
		return err
	}
	if err := render(stdout, s); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if s.Verdict == status.Fail {
		return errStatusFailed
	}
	return nil
}

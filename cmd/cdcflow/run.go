package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/progress"
)

func init() {
	register(command{
		name:    "run",
		summary: "capture changes, map them to domain events and publish them to Kafka (and materialize the views with views.enabled)",
		run:     runRun,
		example: "cdcflow run --config cdcflow.yaml\nCDCFLOW_SOURCE_DSN=postgres://cdc@db/shop CDCFLOW_MAPPING_FILE=mapping.yaml cdcflow run",
	})
}

// runRun is the main job: capture → mapping → Kafka, confirming to
// PostgreSQL only what Kafka has acknowledged; with views.enabled the Redis
// views are materialized from the same brokers in the same process.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	path := configFlag(fs)
	mappingFile := fs.String("mapping", "", "mapping `file` (default: mapping.file)")
	live := fs.Bool("progress", progress.IsTerminal(stderr), "show live progress on stderr (default: when stderr is a terminal)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `file` (for benchmarks)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	if *mappingFile != "" {
		cfg.Mapping.File = *mappingFile
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	stderr = liveStderr(stderr, *live)
	log := cfg.Log.Logger(stderr)

	// The mapping is checked against each table's live shape when its first
	// Relation arrives (and again after every ALTER TABLE).
	mapping, err := config.LoadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		return err
	}
	opts := flowOptions{}
	if *live {
		opts.progress = stderr
	}
	if cfg.Views.Enabled {
		// The views are materialized in this process, from the brokers the
		// flow publishes to (the embedded one included), with its metrics.
		views, err := newViewSetup(cfg, mapping, log)
		if err != nil {
			return err
		}
		defer views.rdb.Close()
		opts.services = append(opts.services, views.materializeService())
		if cfg.Query.Addr != "" {
			opts.services = append(opts.services, views.queryService(nil))
		}
	}
	if cfg.CEP.Enabled {
		// The rules run in this process on the flow's brokers (docs/cep.md).
		svc, err := cepService(cfg, mapping, log)
		if err != nil {
			return err
		}
		opts.services = append(opts.services, svc)
	}
	return runFlow(ctx, cfg, mapping, log, opts)
}

// liveStderr returns what a command that redraws a live line on stderr
// writes everything through, its logger first: a progress.Screen, so that
// a log record never lands inside the line but above it. Without a live
// line it returns stderr itself, so that other output is unchanged.
func liveStderr(stderr io.Writer, live bool) io.Writer {
	if !live {
		return stderr
	}
	return progress.NewScreen(stderr)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

func init() {
	register(command{
		name:    "run",
		summary: "capture changes, map them to domain events and publish them to Kafka",
		run:     runRun,
	})
}

// runRun is the main job: capture → mapping → Kafka, confirming to
// PostgreSQL only what Kafka has acknowledged.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	mappingFile := fs.String("mapping", "", "mapping `file` (default: mapping.file)")
	progress := fs.Bool("progress", isTerminal(stderr), "show live progress on stderr (default: when stderr is a terminal)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `file` (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := loadConfig(*path, os.Environ())
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
	log := cfg.Log.logger(stderr)

	// The mapping is checked against each table's live shape when its first
	// Relation arrives (and again after every ALTER TABLE).
	mapping, err := loadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		return err
	}
	var out io.Writer
	if *progress {
		out = stderr
	}
	return runFlow(ctx, cfg, mapping, log, flowOptions{progress: out})
}

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the benchmark's flags.
type options struct {
	changes    int64  // captured row changes the workload writes at least
	runs       int    // runs per reader; the median is reported
	cpuProfile string // CPU profile of the last SyncWrites-on run, if set
	keep       bool   // keep the working directory (server log, cdcflow logs)
	// latencyDuration is how long the load runs at a fixed rate for the
	// latency measurement (0: skip it).
	latencyDuration time.Duration
	// latencyFraction is the fixed rate as a fraction of the sustained one.
	latencyFraction float64
	// env are extra CDCFLOW_* variables for every cdcflow run.
	env envList
}

// envList is a repeatable flag of KEY=VALUE environment variables.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(kv string) error {
	if k, _, ok := strings.Cut(kv, "="); !ok || !strings.HasPrefix(k, "CDCFLOW_") {
		return fmt.Errorf("%q is not CDCFLOW_KEY=VALUE", kv)
	}
	*e = append(*e, kv)
	return nil
}

func main() {
	var o options
	flag.Int64Var(&o.changes, "changes", 100000, "captured row changes the workload writes, at least")
	flag.IntVar(&o.runs, "runs", 3, "runs per reader (the median is reported)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the last SyncWrites-on cdcflow run to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (PostgreSQL and cdcflow logs) after the run")
	flag.DurationVar(&o.latencyDuration, "latency-duration", 20*time.Second, "how long the fixed-rate load of the latency measurement runs (0: skip it)")
	flag.Float64Var(&o.latencyFraction, "latency-fraction", 0.5, "the latency measurement's load rate as a fraction of the sustained rate")
	flag.Var(&o.env, "env", "an extra `CDCFLOW_KEY=VALUE` for every cdcflow run, e.g. CDCFLOW_KAFKA_COMPRESSION=lz4 (repeatable)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench delivery:", strings.TrimSpace(err.Error()))
		stop()
		os.Exit(1)
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
)

// options are the benchmark's flags.
type options struct {
	benchkit.Options
	// latencyDuration is how long the load runs at a fixed rate for the
	// latency measurement (0: skip it).
	latencyDuration time.Duration
	// latencyFraction is the fixed rate as a fraction of the sustained one.
	latencyFraction float64
	// env are extra CDCFLOW_* variables for every cdcflow run.
	env envList
	// bigTx are the sizes of the single transactions whose peak RSS is
	// measured (wide workload only).
	bigTx sizeList
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
	o.AddFlags(flag.CommandLine, "write a CPU profile of the last SyncWrites-on cdcflow run to this file", "keep the working directory (PostgreSQL and cdcflow logs) after the run")
	flag.DurationVar(&o.latencyDuration, "latency-duration", 20*time.Second, "how long the fixed-rate load of the latency measurement runs (0: skip it)")
	flag.Float64Var(&o.latencyFraction, "latency-fraction", 0.5, "the latency measurement's load rate as a fraction of the sustained rate")
	flag.Var(&o.env, "env", "an extra `CDCFLOW_KEY=VALUE` for every cdcflow run, e.g. CDCFLOW_KAFKA_COMPRESSION=lz4 (repeatable)")
	flag.Var(&o.bigTx, "bigtx", "wide workload: after the runs, drain one transaction of each of these `row counts` (e.g. 10000,1000000) and print cdcflow's peak RSS")
	flag.Parse()

	benchkit.Main("delivery", func(ctx context.Context) error { return run(ctx, o) })
}

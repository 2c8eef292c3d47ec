package main

import (
	"context"
	"flag"
	"time"

	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
)

// options are the benchmark's flags.
type options struct {
	benchkit.Options
	hold       bool // after the workload, print how to drain it and wait for a signal
	singleProc bool // also run the Reader with GOMAXPROCS=1
	// confirmInterval is how often the cdcflow reader confirms (0: every commit).
	confirmInterval time.Duration
}

func main() {
	var o options
	var d drainOptions
	isDrain := flag.Bool("drain", false, "run as the cdcflow reader child process (used by the benchmark itself)")
	o.AddFlags(flag.CommandLine, "write a CPU profile of the last cdcflow run to this file", "keep the PostgreSQL directory after the run")
	flag.BoolVar(&o.singleProc, "gomaxprocs1", false, "also run the Reader child with GOMAXPROCS=1 (one more row)")
	flag.BoolVar(&o.hold, "hold", false, "write the workload, print how to drain copies of its slot by hand, and wait for SIGINT instead of running the readers")
	flag.DurationVar(&o.confirmInterval, "confirm-interval", time.Second, "how often the cdcflow reader confirms the last commit (0: after every commit)")
	flag.BoolVar(&d.bare, "bare", false, "drain: decode in a bare receive loop instead of the Reader")
	flag.StringVar(&d.dsn, "dsn", "", "drain: source DSN")
	flag.StringVar(&d.slot, "slot", "", "drain: slot to drain")
	flag.StringVar(&d.publication, "publication", "", "drain: publication")
	flag.StringVar(&d.tables, "tables", "", "drain: comma-separated captured tables")
	flag.StringVar(&d.end, "end", "", "drain: end LSN")
	flag.Parse()
	d.cpuProfile, d.confirmInterval = o.CPUProfile, o.confirmInterval

	benchkit.Main("capture", func(ctx context.Context) error {
		if *isDrain {
			return drain(ctx, d)
		}
		return run(ctx, o)
	})
}

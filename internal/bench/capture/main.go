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
	cpuProfile string // CPU profile of the last cdcflow run, if set
	keep       bool   // keep the server's directory (for a look at its log)
	hold       bool   // after the workload, print how to drain it and wait for a signal
	singleProc bool   // also run the Reader with GOMAXPROCS=1
	// confirmInterval is how often the cdcflow reader confirms (0: every commit).
	confirmInterval time.Duration
}

func main() {
	var o options
	var d drainOptions
	isDrain := flag.Bool("drain", false, "run as the cdcflow reader child process (used by the benchmark itself)")
	flag.Int64Var(&o.changes, "changes", 100000, "captured row changes the workload writes, at least")
	flag.IntVar(&o.runs, "runs", 3, "runs per reader (the median is reported)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the last cdcflow run to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the PostgreSQL directory after the run")
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
	d.cpuProfile, d.confirmInterval = o.cpuProfile, o.confirmInterval

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *isDrain {
		err = drain(ctx, d)
	} else {
		err = run(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench capture:", strings.TrimSpace(err.Error()))
		stop()
		os.Exit(1)
	}
}

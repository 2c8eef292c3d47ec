package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
)

const (
	latencySlot = "bench_latency"
)

// measurement is one reader's pass over one slot copy. Its Seconds run from
// process start to the end position.
type measurement struct {
	benchkit.Process
	startup float64 // of which until cdcflow was ready (cdcflow only)
	events  float64 // records Kafka acknowledged (cdcflow only)
	dead    float64 // of which dead letters (cdcflow only)
	// captured is the row changes cdcflow's capture counted (cdcflow only).
	captured float64
	// transactions is the Kafka transactions committed (exactly-once only).
	transactions float64
}

// reader reads a slot copy to the end position in a child process.
type reader = benchkit.Reader[measurement]

func run(ctx context.Context, o options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if len(o.bigTx) > 0 && o.Workload != benchkit.WorkloadWide {
		return errors.New("-bigtx needs -workload wide")
	}
	if o.latencyFraction <= 0 || o.latencyFraction > 1 {
		return errors.New("-latency-fraction must be in (0, 1]")
	}
	mapping, err := filepath.Abs(o.MappingFile())
	if err != nil {
		return err
	}
	if _, err := os.Stat(mapping); err != nil {
		return fmt.Errorf("run from the module root: %w", err)
	}
	if o.CPUProfile != "" {
		if o.CPUProfile, err = filepath.Abs(o.CPUProfile); err != nil {
			return err
		}
	}
	dir, cleanup, err := benchkit.TempDir("cdcflow-bench-delivery-", o.Keep, "working directory")
	if err != nil {
		return err
	}
	defer cleanup()

	bin := filepath.Join(dir, "cdcflow")
	fmt.Fprintln(os.Stderr, "building ./cmd/cdcflow...")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/cdcflow")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build cdcflow: %w", err)
	}

	src, err := benchkit.StartSource(ctx, "delivery", filepath.Join(dir, "pg"), o.Options)
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	pg, conn, w := src.PG, src.Conn, src.Workload

	fc := flowConfig{bin: bin, dir: dir, dsn: pg.DSN(benchkit.Database), mapping: mapping, conn: conn, env: o.env}
	recv := reader{Name: "pg_recvlogical", Drain: func(ctx context.Context, slot string, _ bool) (measurement, error) {
		p, err := benchkit.DrainRecvlogical(ctx, pg, slot, w.End)
		return measurement{Process: p}, err
	}}
	readers := []reader{recv}
	for _, md := range modes {
		readers = append(readers, reader{Name: md.String(), Drain: func(ctx context.Context, slot string, last bool) (measurement, error) {
			profile := ""
			if last && md == modes[0] {
				profile = o.CPUProfile
			}
			m, _, err := fc.run(ctx, slot, md, profile, w.End, nil)
			return m, err
		}})
	}
	results, err := benchkit.Runs(ctx, conn, o.Runs, readers, func(run int, name string, m measurement) {
		fmt.Fprintf(os.Stderr, "run %d %-46s %.3fs (ready after %.3fs)  %.3f CPU s  %d KiB peak RSS  %.0f events (%.0f dead letters)  %.0f Kafka transactions\n",
			run, name, m.Seconds, m.startup, m.CPU, m.MaxRSS, m.events, m.dead, m.transactions)
	})
	if err != nil {
		return err
	}
	names := make([]string, len(readers))
	for i, rd := range readers {
		names[i] = rd.Name
	}
	rows := summarize(w, names, results)
	if err := checkEvents(rows[1:]); err != nil {
		return err
	}

	var lats []*latencyResult
	if o.latencyDuration > 0 && o.Workload == benchkit.WorkloadWide {
		fmt.Fprintln(os.Stderr, "latency: measured on the reference workload only; skipped")
	}
	if o.latencyDuration > 0 && o.Workload != benchkit.WorkloadWide {
		// Half the sustainable rate: the lower of what cdcflow sustained
		// in the delivery mode (SyncWrites on) and what the load generator
		// wrote flat out.
		for _, md := range modes {
			sustained := rows[1].rate
			if md.exactlyOnce {
				sustained = rows[3].rate
			}
			rate := o.latencyFraction * min(sustained, float64(w.Changes)/w.Took.Seconds())
			lat, err := measureLatency(ctx, fc, pg.DSN(benchkit.Database), w, rate, o.latencyDuration, md)
			if err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			lats = append(lats, lat)
		}
	}
	var big []bigTxResult
	if len(o.bigTx) > 0 {
		if big, err = measureBigTx(ctx, fc, o.bigTx); err != nil {
			return err
		}
	}
	if len(o.env) > 0 {
		fmt.Fprintf(os.Stdout, "cdcflow runs with %s\n", strings.Join(o.env, " "))
	}
	report(os.Stdout, w, o.Runs, rows, lats)
	reportBigTx(os.Stdout, big)
	return nil
}

// modes are the cdcflow runs measured, in the report's order (rows 1 to 4).
var modes = []mode{
	{syncWrites: true}, {syncWrites: false},
	{syncWrites: true, exactlyOnce: true}, {syncWrites: false, exactlyOnce: true},
}

// checkEvents fails unless every cdcflow run captured every change the
// workload wrote (and at most the one transaction after the end position)
// and published a plausible number of events: the same in every run (the
// same WAL maps to the same events), and at least one per ten changes. The
// transaction after the end position (one product update, at most one
// event) may or may not be published when a run is measured, so a run that
// captured it may count its event too: each run allows a range, and the
// ranges must meet.
func checkEvents(rows []*row) error {
	lo, hi := math.Inf(-1), math.Inf(1)
	for _, r := range rows {
		for _, m := range r.ms {
			c := int64(m.captured)
			if c < r.changes || c > r.changes+1 {
				return fmt.Errorf("%s captured %d changes; the workload wrote %d", r.name, c, r.changes)
			}
			runLo := m.events - float64(c-r.changes)
			if runLo > hi || m.events < lo {
				return fmt.Errorf("%s published %.0f events in one run, where the runs before published %.0f to %.0f: the same WAL must map to the same events", r.name, m.events, lo, hi)
			}
			lo, hi = max(lo, runLo), min(hi, m.events)
		}
	}
	if hi < float64(rows[0].changes)/10 {
		return fmt.Errorf("cdcflow published %.0f events for %d changes", hi, rows[0].changes)
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
	"github.com/cdcflow/cdcflow/internal/services"
)

func run(ctx context.Context, o options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	dir, cleanup, err := benchkit.TempDir("cdcflow-bench-", o.Keep, "postgres directory")
	if err != nil {
		return err
	}
	defer cleanup()
	src, err := benchkit.StartSource(ctx, "capture", dir, o.Options)
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	pg, w := src.PG, src.Workload

	if o.hold {
		return hold(ctx, pg, w)
	}

	type reader = benchkit.Reader[benchkit.Process]
	recv := reader{Name: "pg_recvlogical", Drain: func(ctx context.Context, slot string, _ bool) (benchkit.Process, error) {
		return benchkit.DrainRecvlogical(ctx, pg, slot, w.End)
	}}
	cdc := reader{Name: "cdcflow", Drain: func(ctx context.Context, slot string, last bool) (benchkit.Process, error) {
		return drainCdcflow(ctx, pg, slot, w, o.confirmInterval, false, last && o.CPUProfile != "", o.CPUProfile)
	}}
	bare := reader{Name: "cdcflow-decode-only", Drain: func(ctx context.Context, slot string, _ bool) (benchkit.Process, error) {
		return drainCdcflow(ctx, pg, slot, w, 0, true, false, "")
	}}
	readers := []reader{recv, cdc, bare}
	if o.singleProc {
		readers = append(readers, reader{Name: "cdcflow-gomaxprocs1", Drain: func(ctx context.Context, slot string, _ bool) (benchkit.Process, error) {
			return drainCdcflow(ctx, pg, slot, w, o.confirmInterval, false, false, "", "GOMAXPROCS=1")
		}})
	}
	results, err := benchkit.Runs(ctx, src.Conn, o.Runs, readers, func(run int, name string, m benchkit.Process) {
		fmt.Fprintf(os.Stderr, "run %d %-20s %.3fs  %.3f CPU s  %d KiB peak RSS\n", run, name, m.Seconds, m.CPU, m.MaxRSS)
	})
	if err != nil {
		return err
	}
	report(os.Stdout, w, o.Runs, results)
	return nil
}

// hold prints how to drain the workload by hand (for profiling one reader
// with perf or strace) and waits until ctx ends.
func hold(ctx context.Context, pg *services.Postgres, w benchkit.Workload) error {
	fmt.Printf("DSN=%q\nSOURCE_SLOT=%s\nEND=%s\nCHANGES=%d\nTABLES=%q\n", pg.DSN(benchkit.Database), benchkit.SourceSlot, w.End, w.Changes, strings.Join(w.Tables, ","))
	fmt.Fprintf(os.Stderr, "holding: copy the slot with SELECT pg_copy_logical_replication_slot('%s', 'mine'), then\n"+
		"  capture -drain -dsn \"$DSN\" -slot mine -publication %s -tables \"$TABLES\" -end %s [-bare]\n"+
		"and drop it after; interrupt to stop the server\n", benchkit.SourceSlot, benchkit.Publication, w.End)
	<-ctx.Done()
	return nil
}

// drainCdcflow runs this program as a child (-drain), which runs cdcflow's
// Reader on slot, and checks it saw every captured change.
func drainCdcflow(ctx context.Context, pg *services.Postgres, slot string, w benchkit.Workload, confirmInterval time.Duration, bare, profile bool, profilePath string, env ...string) (benchkit.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return benchkit.Process{}, err
	}
	args := []string{"-drain", "-dsn", pg.DSN(benchkit.Database), "-slot", slot, "-publication", benchkit.Publication,
		"-tables", strings.Join(w.Tables, ","), "-end", w.End.String(),
		"-confirm-interval", confirmInterval.String()}
	if profile {
		args = append(args, "-cpuprofile", profilePath)
	}
	if bare {
		args = append(args, "-bare")
	}
	cmd := exec.CommandContext(ctx, self, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	m, err := benchkit.Timed(cmd, false)
	if err != nil {
		return m, err
	}
	var res drainResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return m, fmt.Errorf("read the drain's result %q: %w", out.String(), err)
	}
	m.MaxRSS = res.PeakRSS
	if res.Changes != w.Changes {
		return m, fmt.Errorf("cdcflow saw %d changes; the workload wrote %d", res.Changes, w.Changes)
	}
	return m, nil
}

// report prints the comparison table.
func report(out io.Writer, w benchkit.Workload, runs int, results map[string][]benchkit.Process) {
	type row struct {
		name      string
		ms        []benchkit.Process
		secs      []float64 // wall seconds of each run
		rate, cpu float64   // median rows/s; median CPU seconds
		rss       int64
	}
	rows := []*row{{name: "pg_recvlogical", ms: results["pg_recvlogical"]}, {name: "cdcflow (Reader)", ms: results["cdcflow"]},
		{name: "cdcflow decode only", ms: results["cdcflow-decode-only"]}}
	if ms, ok := results["cdcflow-gomaxprocs1"]; ok {
		rows = append(rows, &row{name: "cdcflow (Reader), GOMAXPROCS=1", ms: ms})
	}
	for _, r := range rows {
		var cpus []float64
		for _, m := range r.ms {
			r.secs = append(r.secs, m.Seconds)
			cpus = append(cpus, m.CPU)
			r.rss = max(r.rss, m.MaxRSS)
		}
		r.rate, r.cpu = float64(w.Changes)/benchkit.Median(r.secs), benchkit.Median(cpus)
	}
	tw := benchkit.Table(out, w, runs, "reader", "rows/s (median)", "vs pg_recvlogical", "wall s per run", "CPU s (median)", "peak RSS MiB")
	for _, r := range rows {
		rss := "-"
		if r.rss > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.rss)/1024)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2fx\t%s\t%.3f\t%s\t\n", r.name, r.rate, r.rate/rows[0].rate, benchkit.FormatSeconds(r.secs), r.cpu, rss)
	}
	tw.Flush()
	verdict := "met"
	if rows[1].rate < 0.9*rows[0].rate {
		verdict = "MISSED"
	}
	fmt.Fprintf(out, "\nratio cdcflow (Reader) / pg_recvlogical: %.2fx (goal 0.90x or better: %s)\n", rows[1].rate/rows[0].rate, verdict)
}

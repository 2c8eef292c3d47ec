package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/services"
)

const (
	database    = "bench"
	publication = "bench"
	sourceSlot  = "bench_source"
)

// capturedTables are the reference database's tables cdcflow captures: all
// but the busy, uncaptured audit log.
var capturedTables = []string{"customers", "products", "orders", "order_lines", "payments", `"ShipmentTracking"`}

// measurement is one reader's drain of one slot copy.
type measurement struct {
	seconds float64 // wall time of the process, start to exit
	cpu     float64 // user + system CPU seconds of the process
	maxRSS  int64   // peak resident set (VmHWM), KiB; 0 when not measured
}

// reader drains a slot copy to the end position in a child process.
type reader struct {
	name  string
	drain func(ctx context.Context, slot string, profile bool) (measurement, error)
}

func run(ctx context.Context, o options) error {
	if o.runs < 1 || o.changes < 1 {
		return errors.New("-runs and -changes must be positive")
	}
	dir, err := os.MkdirTemp("", "cdcflow-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "postgres directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	pg, err := services.StartPostgres(ctx, services.PostgresOptions{Dir: dir})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := pg.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench capture:", err)
		}
	}()

	conn, err := setUp(ctx, pg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	fmt.Fprintf(os.Stderr, "writing the reference workload (at least %d captured row changes)...\n", o.changes)
	w, err := writeWorkload(ctx, pg.DSN(database), conn, o.changes)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "workload: %d captured row changes in %d transactions, %.1f MiB of WAL (%s to %s), written in %s\n",
		w.changes, w.transactions, float64(w.end-w.start)/(1<<20), w.start, w.end, w.took.Round(time.Millisecond))

	if o.hold {
		return hold(ctx, pg, w)
	}

	recv := reader{name: "pg_recvlogical", drain: func(ctx context.Context, slot string, _ bool) (measurement, error) {
		return drainRecvlogical(ctx, pg, slot, w.end)
	}}
	cdc := reader{name: "cdcflow", drain: func(ctx context.Context, slot string, profile bool) (measurement, error) {
		return drainCdcflow(ctx, pg, slot, w, o.confirmInterval, false, profile, o.cpuProfile)
	}}
	bare := reader{name: "cdcflow-decode-only", drain: func(ctx context.Context, slot string, _ bool) (measurement, error) {
		return drainCdcflow(ctx, pg, slot, w, 0, true, false, "")
	}}
	readers := []reader{recv, cdc, bare}
	if o.singleProc {
		readers = append(readers, reader{name: "cdcflow-gomaxprocs1", drain: func(ctx context.Context, slot string, _ bool) (measurement, error) {
			return drainCdcflow(ctx, pg, slot, w, o.confirmInterval, false, false, "", "GOMAXPROCS=1")
		}})
	}
	results := map[string][]measurement{}
	for i := range o.runs {
		order := slices.Clone(readers)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, rd := range order {
			slot := fmt.Sprintf("bench_%s_%d", strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' {
					return r
				}
				return -1
			}, rd.name), i)
			if _, err := conn.Exec(ctx, "SELECT pg_copy_logical_replication_slot($1, $2)", sourceSlot, slot); err != nil {
				return fmt.Errorf("copy slot %s to %s: %w", sourceSlot, slot, err)
			}
			m, err := rd.drain(ctx, slot, i == o.runs-1 && o.cpuProfile != "")
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i+1, rd.name, err)
			}
			fmt.Fprintf(os.Stderr, "run %d %-20s %.3fs  %.3f CPU s  %d KiB peak RSS\n", i+1, rd.name, m.seconds, m.cpu, m.maxRSS)
			results[rd.name] = append(results[rd.name], m)
			if err := dropSlot(ctx, conn, slot); err != nil {
				return err
			}
		}
	}
	report(os.Stdout, w, o.runs, results)
	return nil
}

// hold prints how to drain the workload by hand (for profiling one reader
// with perf or strace) and waits until ctx ends.
func hold(ctx context.Context, pg *services.Postgres, w workload) error {
	fmt.Printf("DSN=%q\nSOURCE_SLOT=%s\nEND=%s\nCHANGES=%d\nTABLES=%q\n", pg.DSN(database), sourceSlot, w.end, w.changes, strings.Join(capturedTables, ","))
	fmt.Fprintf(os.Stderr, "holding: copy the slot with SELECT pg_copy_logical_replication_slot('%s', 'mine'), then\n"+
		"  capture -drain -dsn \"$DSN\" -slot mine -publication %s -tables \"$TABLES\" -end %s [-bare]\n"+
		"and drop it after; interrupt to stop the server\n", sourceSlot, publication, w.end)
	<-ctx.Done()
	return nil
}

// setUp creates the reference database, the publication and the slot every
// reader's copy starts from, before any load.
func setUp(ctx context.Context, pg *services.Postgres) (*pgx.Conn, error) {
	admin, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return nil, err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+database)
	admin.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	conn, err := pgx.Connect(ctx, pg.DSN(database))
	if err != nil {
		return nil, err
	}
	if err := loadgen.Init(ctx, conn); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	for _, sql := range []string{
		fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)",
			publication, strings.Join(capturedTables, ", ")),
		fmt.Sprintf("SELECT pg_create_logical_replication_slot('%s', 'pgoutput')", sourceSlot),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("set up: %s: %w", sql, err)
		}
	}
	return conn, nil
}

// workload is what writeWorkload wrote.
type workload struct {
	changes, transactions int64
	start, end            capture.LSN // the source slot's start; the WAL position after the load
	took                  time.Duration
}

// writeWorkload runs the load generator until at least changes captured row
// changes are committed. The end position is the WAL position right after;
// one more captured transaction follows it, so that a reader told to stop
// at the first transaction committed at or after the end has one to see.
func writeWorkload(ctx context.Context, dsn string, conn *pgx.Conn, changes int64) (workload, error) {
	var w workload
	var start string
	if err := conn.QueryRow(ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", sourceSlot).Scan(&start); err != nil {
		return w, fmt.Errorf("read source slot: %w", err)
	}
	gen, err := loadgen.New(loadgen.Config{DSN: dsn, Seed: 1, Count: 500, Workers: 2})
	if err != nil {
		return w, err
	}
	began := time.Now()
	for w.changes < changes {
		if err := gen.Run(ctx); err != nil {
			return w, fmt.Errorf("load: %w", err)
		}
		st := gen.Stats()
		w.transactions, w.changes = st.Transactions, 0
		for name, t := range st.Tables {
			if name != "audit_log" {
				w.changes += t.Inserted + t.Updated + t.Deleted
			}
		}
	}
	w.took = time.Since(began)
	var end string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&end); err != nil {
		return w, fmt.Errorf("read WAL position: %w", err)
	}
	if _, err := conn.Exec(ctx, "UPDATE products SET product_id = product_id WHERE product_id = (SELECT min(product_id) FROM products)"); err != nil {
		return w, fmt.Errorf("write the transaction after the end: %w", err)
	}
	if w.start, err = capture.ParseLSN(start); err != nil {
		return w, err
	}
	if w.end, err = capture.ParseLSN(end); err != nil {
		return w, err
	}
	return w, nil
}

// drainRecvlogical runs Debian's pg_recvlogical on slot to the end position,
// with the plugin options cdcflow's Reader uses.
func drainRecvlogical(ctx context.Context, pg *services.Postgres, slot string, end capture.LSN) (measurement, error) {
	cmd := exec.CommandContext(ctx, pg.Bin("pg_recvlogical"),
		"-d", pg.DSN(database), "--slot", slot, "--start", "--no-loop",
		"--endpos", end.String(),
		"-o", "proto_version=1", "-o", "publication_names="+publication, "-o", "messages=true",
		"-f", "/dev/null")
	cmd.Stderr = os.Stderr
	return timed(cmd, true)
}

// drainCdcflow runs this program as a child (-drain), which runs cdcflow's
// Reader on slot, and checks it saw every captured change.
func drainCdcflow(ctx context.Context, pg *services.Postgres, slot string, w workload, confirmInterval time.Duration, bare, profile bool, profilePath string, env ...string) (measurement, error) {
	self, err := os.Executable()
	if err != nil {
		return measurement{}, err
	}
	args := []string{"-drain", "-dsn", pg.DSN(database), "-slot", slot, "-publication", publication,
		"-tables", strings.Join(capturedTables, ","), "-end", w.end.String(),
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
	m, err := timed(cmd, false)
	if err != nil {
		return m, err
	}
	var res drainResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return m, fmt.Errorf("read the drain's result %q: %w", out.String(), err)
	}
	m.maxRSS = res.PeakRSS
	if res.Changes != w.changes {
		return m, fmt.Errorf("cdcflow saw %d changes; the workload wrote %d", res.Changes, w.changes)
	}
	return m, nil
}

// timed runs cmd and measures its wall time and CPU time. With sample set it
// also samples the process's VmHWM every few milliseconds, for a program that
// cannot report its own; the peak of its last few milliseconds may be missed.
func timed(cmd *exec.Cmd, sample bool) (measurement, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	var hwm int64
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		if !sample {
			return
		}
		pid := strconv.Itoa(cmd.Process.Pid)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			hwm = max(hwm, peakRSS(pid))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-sampled
	if err != nil {
		return measurement{}, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	return measurement{
		seconds: time.Since(start).Seconds(),
		cpu:     (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(),
		maxRSS:  hwm,
	}, nil
}

// dropSlot drops a drained slot copy, waiting for its walsender to exit.
func dropSlot(ctx context.Context, conn *pgx.Conn, slot string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot)
		if err == nil || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("drop slot %s: %w", slot, err)
			}
			return nil
		}
		select { // the slot stays active until the walsender has exited
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// report prints the comparison table.
func report(out *os.File, w workload, runs int, results map[string][]measurement) {
	type row struct {
		name      string
		ms        []measurement
		rate, cpu float64 // median rows/s; median CPU seconds
		rss       int64
	}
	median := func(xs []float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	rows := []*row{{name: "pg_recvlogical", ms: results["pg_recvlogical"]}, {name: "cdcflow (Reader)", ms: results["cdcflow"]},
		{name: "cdcflow decode only", ms: results["cdcflow-decode-only"]}}
	if ms, ok := results["cdcflow-gomaxprocs1"]; ok {
		rows = append(rows, &row{name: "cdcflow (Reader), GOMAXPROCS=1", ms: ms})
	}
	for _, r := range rows {
		var secs, cpus []float64
		for _, m := range r.ms {
			secs = append(secs, m.seconds)
			cpus = append(cpus, m.cpu)
			r.rss = max(r.rss, m.maxRSS)
		}
		r.rate, r.cpu = float64(w.changes)/median(secs), median(cpus)
	}
	fmt.Fprintf(out, "%d captured row changes, %d transactions, %.1f MiB WAL; median of %d runs, alternating order\n\n",
		w.changes, w.transactions, float64(w.end-w.start)/(1<<20), runs)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reader\trows/s (median)\tvs pg_recvlogical\twall s per run\tCPU s (median)\tpeak RSS MiB\t")
	for _, r := range rows {
		var secs []string
		for _, m := range r.ms {
			secs = append(secs, fmt.Sprintf("%.3f", m.seconds))
		}
		rss := "-"
		if r.rss > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.rss)/1024)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2fx\t%s\t%.3f\t%s\t\n", r.name, r.rate, r.rate/rows[0].rate, strings.Join(secs, " "), r.cpu, rss)
	}
	tw.Flush()
	verdict := "met"
	if rows[1].rate < 0.9*rows[0].rate {
		verdict = "MISSED"
	}
	fmt.Fprintf(out, "\nratio cdcflow (Reader) / pg_recvlogical: %.2fx (goal 0.90x or better: %s)\n", rows[1].rate/rows[0].rate, verdict)
}

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
	"slices"
	"strconv"
	"strings"
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
	latencySlot = "bench_latency"
	mappingFile = "deploy/examples/orders/mapping.yaml"
)

// capturedTables are the tables the reference mapping reads: all but the
// busy, uncaptured audit log.
var capturedTables = []string{"customers", "products", "orders", "order_lines", "payments", `"ShipmentTracking"`}

// measurement is one reader's pass over one slot copy.
type measurement struct {
	seconds float64 // wall time from process start to the end position
	startup float64 // of which until cdcflow was ready (cdcflow only)
	cpu     float64 // user + system CPU seconds of the process
	maxRSS  int64   // peak resident set (VmHWM), KiB; 0 when not measured
	events  float64 // records Kafka acknowledged (cdcflow only)
	dead    float64 // of which dead letters (cdcflow only)
	// captured is the row changes cdcflow's capture counted (cdcflow only).
	captured float64
	// transactions is the Kafka transactions committed (exactly-once only).
	transactions float64
}

// reader reads a slot copy to the end position in a child process.
type reader struct {
	name  string
	drain func(ctx context.Context, slot string, last bool) (measurement, error)
}

func run(ctx context.Context, o options) error {
	if o.runs < 1 || o.changes < 1 {
		return errors.New("-runs and -changes must be positive")
	}
	if o.latencyFraction <= 0 || o.latencyFraction > 1 {
		return errors.New("-latency-fraction must be in (0, 1]")
	}
	mapping, err := filepath.Abs(mappingFile)
	if err != nil {
		return err
	}
	if _, err := os.Stat(mapping); err != nil {
		return fmt.Errorf("run from the module root: %w", err)
	}
	if o.cpuProfile != "" {
		if o.cpuProfile, err = filepath.Abs(o.cpuProfile); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "cdcflow-bench-delivery-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "working directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	bin := filepath.Join(dir, "cdcflow")
	fmt.Fprintln(os.Stderr, "building ./cmd/cdcflow...")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/cdcflow")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build cdcflow: %w", err)
	}

	pg, err := services.StartPostgres(ctx, services.PostgresOptions{Dir: filepath.Join(dir, "pg")})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := pg.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench delivery:", err)
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

	fc := flowConfig{bin: bin, dir: dir, dsn: pg.DSN(database), mapping: mapping, conn: conn, env: o.env}
	recv := reader{name: "pg_recvlogical", drain: func(ctx context.Context, slot string, _ bool) (measurement, error) {
		return drainRecvlogical(ctx, pg, slot, w.end)
	}}
	readers := []reader{recv}
	for _, md := range modes {
		readers = append(readers, reader{name: md.String(), drain: func(ctx context.Context, slot string, last bool) (measurement, error) {
			profile := ""
			if last && md == modes[0] {
				profile = o.cpuProfile
			}
			m, _, err := fc.run(ctx, slot, md, profile, w.end, nil)
			return m, err
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
			m, err := rd.drain(ctx, slot, i == o.runs-1)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i+1, rd.name, err)
			}
			fmt.Fprintf(os.Stderr, "run %d %-46s %.3fs (ready after %.3fs)  %.3f CPU s  %d KiB peak RSS  %.0f events (%.0f dead letters)  %.0f Kafka transactions\n",
				i+1, rd.name, m.seconds, m.startup, m.cpu, m.maxRSS, m.events, m.dead, m.transactions)
			results[rd.name] = append(results[rd.name], m)
			if err := dropSlot(ctx, conn, slot); err != nil {
				return err
			}
		}
	}
	names := make([]string, len(readers))
	for i, rd := range readers {
		names[i] = rd.name
	}
	rows := summarize(w, names, results)
	if err := checkEvents(rows[1:]); err != nil {
		return err
	}

	var lats []*latencyResult
	if o.latencyDuration > 0 {
		// Half the sustainable rate: the lower of what cdcflow sustained
		// in the delivery mode (SyncWrites on) and what the load generator
		// wrote flat out.
		for _, md := range modes {
			sustained := rows[1].rate
			if md.exactlyOnce {
				sustained = rows[3].rate
			}
			rate := o.latencyFraction * min(sustained, float64(w.changes)/w.took.Seconds())
			lat, err := measureLatency(ctx, fc, pg.DSN(database), w, rate, o.latencyDuration, md)
			if err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			lats = append(lats, lat)
		}
	}
	if len(o.env) > 0 {
		fmt.Fprintf(os.Stdout, "cdcflow runs with %s\n", strings.Join(o.env, " "))
	}
	report(os.Stdout, w, o.runs, rows, lats)
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

// capturedChanges counts the captured row changes in a generator's stats.
func capturedChanges(st loadgen.Stats) int64 {
	var n int64
	for name, t := range st.Tables {
		if name != "audit_log" {
			n += t.Inserted + t.Updated + t.Deleted
		}
	}
	return n
}

// writeWorkload runs the load generator until at least changes captured row
// changes are committed; the end position is the WAL position right after.
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
		w.transactions, w.changes = gen.Stats().Transactions, capturedChanges(gen.Stats())
	}
	w.took = time.Since(began)
	if w.start, err = capture.ParseLSN(start); err != nil {
		return w, err
	}
	w.end, err = markEnd(ctx, conn)
	return w, err
}

// markEnd returns the current WAL position and then commits one more
// captured transaction, so that a consumer that confirms commit ends reaches
// the position once it has everything before it.
func markEnd(ctx context.Context, conn *pgx.Conn) (capture.LSN, error) {
	var end string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&end); err != nil {
		return 0, fmt.Errorf("read WAL position: %w", err)
	}
	if _, err := conn.Exec(ctx, "UPDATE products SET product_id = product_id WHERE product_id = (SELECT min(product_id) FROM products)"); err != nil {
		return 0, fmt.Errorf("write the transaction after the end: %w", err)
	}
	return capture.ParseLSN(end)
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
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	hwm := sampleRSS(cmd.Process.Pid)
	err := cmd.Wait()
	rss := hwm()
	if err != nil {
		return measurement{}, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	return measurement{
		seconds: time.Since(start).Seconds(),
		cpu:     (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(),
		maxRSS:  rss,
	}, nil
}

// sampleRSS samples process pid's VmHWM every few milliseconds until the
// returned function is called, which returns the highest value seen. The
// peak of the process's last few milliseconds may be missed.
func sampleRSS(pid int) func() int64 {
	var hwm int64
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		p := strconv.Itoa(pid)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			hwm = max(hwm, peakRSS(p))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-sampled
		return hwm
	}
}

// peakRSS returns VmHWM (the peak resident set) of process pid from /proc
// in KiB, 0 if unknown.
func peakRSS(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// dropSlot drops a slot, waiting for its walsender to exit.
func dropSlot(ctx context.Context, conn *pgx.Conn, slot string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drop slot %s: %w", slot, err)
		}
		select { // the slot stays active until the walsender has exited
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
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

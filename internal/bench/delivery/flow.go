package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
)

// flowConfig is what every cdcflow run shares.
type flowConfig struct {
	bin     string    // the cdcflow binary
	dir     string    // working directory: data directories and logs go here
	dsn     string    // the source database
	mapping string    // absolute path of the mapping file
	conn    *pgx.Conn // polls the slot; used by one run at a time
	env     []string  // extra CDCFLOW_* variables, applied last
}

// mode is how a cdcflow run delivers.
type mode struct {
	syncWrites  bool // the embedded broker fsyncs before acknowledging
	exactlyOnce bool // kafka.delivery: exactly_once
}

// String names the mode as the report does.
func (md mode) String() string {
	d := "at-least-once"
	if md.exactlyOnce {
		d = "exactly-once"
	}
	return "cdcflow, " + d + ", SyncWrites " + onOff(md.syncWrites)
}

// tag is the mode in file and slot names.
func (md mode) tag() string {
	d := "alo"
	if md.exactlyOnce {
		d = "eos"
	}
	return fmt.Sprintf("%s_sync_%t", d, md.syncWrites)
}

// run starts `cdcflow run` on slot with a fresh data directory and the
// embedded broker, and waits until the slot's confirmed_flush_lsn reaches
// end: cdcflow confirms a position only after Kafka acknowledged every
// event before it. With load set, it first waits until cdcflow is ready,
// then calls load, which writes to the source and returns the end position
// in place of end. It reads /metrics and the peak resident set at the end,
// then stops the child with SIGINT. profile, when set, is passed as
// --cpuprofile.
func (fc flowConfig) run(ctx context.Context, slot string, md mode, profile string, end capture.LSN,
	load func(ctx context.Context) (capture.LSN, error)) (measurement, metrics, error) {
	var m measurement
	port, err := freePort()
	if err != nil {
		return m, nil, err
	}
	name := slot + "_" + md.tag()
	delivery := "at_least_once"
	if md.exactlyOnce {
		delivery = "exactly_once"
	}
	logf, err := os.Create(filepath.Join(fc.dir, name+".log"))
	if err != nil {
		return m, nil, err
	}
	defer logf.Close()
	args := []string{"run", "--progress=false"}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	cmd := exec.Command(fc.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(withoutCdcflowVars(os.Environ()),
		"CDCFLOW_SOURCE_DSN="+fc.dsn,
		"CDCFLOW_SOURCE_TIMEZONE=Europe/Berlin",
		"CDCFLOW_MAPPING_FILE="+fc.mapping,
		"CDCFLOW_CAPTURE_SLOT="+slot,
		"CDCFLOW_CAPTURE_PUBLICATION="+benchkit.Publication,
		"CDCFLOW_CAPTURE_SNAPSHOT=never",
		"CDCFLOW_DATA_DIR="+filepath.Join(fc.dir, name),
		"CDCFLOW_KAFKA_EMBEDDED_NO_SYNC_WRITES="+strconv.FormatBool(!md.syncWrites),
		"CDCFLOW_KAFKA_DELIVERY="+delivery,
		"CDCFLOW_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(port),
	)
	cmd.Env = append(cmd.Env, fc.env...)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, nil, fmt.Errorf("start %s: %w", fc.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped { // an error on the way: do not leave the child behind
			cmd.Process.Kill()
			<-exited
		}
	}()
	fail := func(err error) (measurement, metrics, error) {
		return m, nil, fmt.Errorf("%w (cdcflow's log: %s, kept with -keep)", err, logf.Name())
	}

	if load != nil {
		if err := awaitReady(ctx, metricsURL, exited); err != nil {
			return fail(err)
		}
		m.startup = time.Since(start).Seconds()
		if end, err = load(ctx); err != nil {
			return fail(err)
		}
	}
	if err := fc.awaitConfirmed(ctx, slot, end, exited, func() {
		if m.startup == 0 && ready(ctx, metricsURL) {
			m.startup = time.Since(start).Seconds()
		}
	}); err != nil {
		return fail(err)
	}
	m.Seconds = time.Since(start).Seconds()
	m.MaxRSS = benchkit.PeakRSS(strconv.Itoa(cmd.Process.Pid))
	met, err := scrape(ctx, metricsURL+"/metrics")
	if err != nil {
		return fail(err)
	}
	m.CPU = met.sum("process_cpu_seconds_total")
	// Exactly-once runs also write one position record per transaction;
	// a run that took over a second wrote progress records to idle
	// partitions (one record each), as many as its timing made.
	m.events = met.sum("cdcflow_kafka_records_total") - met.get(`cdcflow_kafka_records_total{topic="cdcflow.positions"}`) -
		met.sumLabelled("cdcflow_kafka_events_total", `type="`+progressType+`"`)
	m.transactions = met.get(`cdcflow_kafka_transactions_total{outcome="committed"}`)
	m.dead = met.sum("cdcflow_kafka_dead_letters_total")
	m.captured = met.sum("cdcflow_capture_changes_total")

	stopped = true
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited: // its exit status after SIGINT says nothing about the run
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		return fail(errors.New("cdcflow did not stop within 30s of SIGINT"))
	}
	return m, met, nil
}

// withoutCdcflowVars drops the caller's CDCFLOW_* variables, so that only
// the benchmark's configure the child.
func withoutCdcflowVars(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "CDCFLOW_") {
			out = append(out, kv)
		}
	}
	return out
}

// awaitConfirmed polls the slot every 10 ms until its confirmed_flush_lsn
// reaches end, the child exits or a minute without progress passes. It calls
// poll on every round.
func (fc flowConfig) awaitConfirmed(ctx context.Context, slot string, end capture.LSN, exited <-chan error, poll func()) error {
	var last string
	progressAt := time.Now()
	for {
		poll()
		var confirmed string
		var done bool
		err := fc.conn.QueryRow(ctx, `SELECT coalesce(confirmed_flush_lsn::text, ''), coalesce(confirmed_flush_lsn >= $1::pg_lsn, false)
			FROM pg_replication_slots WHERE slot_name = $2`, end.String(), slot).Scan(&confirmed, &done)
		if err != nil {
			return fmt.Errorf("read slot %s: %w", slot, err)
		}
		if done {
			return nil
		}
		if confirmed != last {
			last, progressAt = confirmed, time.Now()
		} else if time.Since(progressAt) > time.Minute {
			return fmt.Errorf("slot %s stuck at %s for a minute, short of %s", slot, confirmed, end)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return fmt.Errorf("cdcflow exited before confirming %s (at %s): %v", end, confirmed, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ready reports whether cdcflow's /readyz answers 200: the broker is up,
// the topics exist and capture has handed on its first messages.
func ready(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// awaitReady waits until cdcflow is ready, polling every 10 ms.
func awaitReady(ctx context.Context, base string, exited <-chan error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		if ready(ctx, base) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("cdcflow not ready within a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return fmt.Errorf("cdcflow exited before it was ready: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// metrics are the samples of one /metrics scrape: series (name and labels
// as written) to value.
type metrics map[string]float64

// scrape reads Prometheus's text format from url.
func scrape(ctx context.Context, url string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	met := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		met[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return met, nil
}

// series splits a series into its name and its label text (without braces).
func series(s string) (name, labels string) {
	name, labels, _ = strings.Cut(s, "{")
	return name, strings.TrimSuffix(labels, "}")
}

// get returns one series' value, 0 when absent.
func (m metrics) get(s string) float64 { return m[s] }

// sumLabelled adds up the series of the metric name whose labels hold label.
func (m metrics) sumLabelled(name, label string) float64 {
	var total float64
	for s, v := range m {
		if n, l := series(s); n == name && strings.Contains(l, label) {
			total += v
		}
	}
	return total
}

// sum adds up every series of the metric name, over all labels.
func (m metrics) sum(name string) float64 {
	var total float64
	for s, v := range m {
		if n, _ := series(s); n == name {
			total += v
		}
	}
	return total
}

// progressType is the CloudEvents type of progress records
// (pipeline.ProgressType).
const progressType = "cdcflow.Progress"

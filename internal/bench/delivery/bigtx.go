package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cdcflow/cdcflow/backpressure"
	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
)

// sizeList is a comma-separated list of row counts ("10000,1000000").
type sizeList []int64

func (l *sizeList) String() string {
	var s []string
	for _, n := range *l {
		s = append(s, strconv.FormatInt(n, 10))
	}
	return strings.Join(s, ",")
}

func (l *sizeList) Set(v string) error {
	*l = nil
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive row count", f)
		}
		*l = append(*l, n)
	}
	return nil
}

// bigTxResult is the cost of draining one transaction of rows rows.
type bigTxResult struct {
	rows int64
	m    measurement
}

// measureBigTx writes, for each size, one transaction inserting that many
// rows into the wide workload's hot table (rows of about 300 bytes, no
// memo, no lines), on a slot of its own created just before, and drains it
// with cdcflow run (at-least-once, every other setting the default) against
// a standalone broker (cdcflow broker, SyncWrites on) in a process of its
// own: the embedded broker keeps every record in memory, which would hide
// the flow's own memory behind the broker's. The peak resident set of
// cdcflow run shows whether memory grows with the size of a transaction.
// Capture hands a transaction on in bounded chunks and the mapping gathers
// at most max_gather_bytes, so it should not.
func measureBigTx(ctx context.Context, fc flowConfig, sizes []int64) ([]bigTxResult, error) {
	var out []bigTxResult
	for _, n := range sizes {
		addr, stop, err := startBroker(ctx, fc, fmt.Sprintf("bigtx-broker-%d", n))
		if err != nil {
			return nil, err
		}
		res, err := drainBigTx(ctx, fc.withEnv("CDCFLOW_KAFKA_BROKERS="+addr), n)
		stop()
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// withEnv returns fc with more CDCFLOW_* variables.
func (fc flowConfig) withEnv(kv ...string) flowConfig {
	fc.env = append(slices.Clone(fc.env), kv...)
	return fc
}

// startBroker starts cdcflow broker on a free port with its data in a
// directory named name under fc.dir, and returns its address and how to stop
// it.
func startBroker(ctx context.Context, fc flowConfig, name string) (string, func(), error) {
	ready := filepath.Join(fc.dir, name+".addr")
	logf, err := os.Create(filepath.Join(fc.dir, name+".log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(fc.bin, "broker", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(fc.dir, name),
		"--ready-file", ready, "--sync-writes")
	cmd.Env = withoutCdcflowVars(os.Environ())
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, fmt.Errorf("start cdcflow broker: %w", err)
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		logf.Close()
	}
	poll := backpressure.Backoff{Initial: 20 * time.Millisecond, Max: 20 * time.Millisecond, Floor: 1}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b)), stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("cdcflow broker not ready after 30s (log: %s)", logf.Name())
		}
		if poll.Wait(ctx, nil) != nil {
			stop()
			return "", nil, ctx.Err()
		}
	}
}

// drainBigTx writes one transaction of n rows and drains it with cdcflow run.
func drainBigTx(ctx context.Context, fc flowConfig, n int64) (bigTxResult, error) {
	{
		slot := fmt.Sprintf("bench_bigtx_%d", n)
		if _, err := fc.conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot); err != nil {
			return bigTxResult{}, fmt.Errorf("create slot %s: %w", slot, err)
		}
		fmt.Fprintf(os.Stderr, "big transaction: %d rows...\n", n)
		if _, err := fc.conn.Exec(ctx, `INSERT INTO "Document" ("DocId", kind, "stateCode", amount, tax_rates, labels, attrs, memo, filler, revision, issued_on, updated_at)
			SELECT b.base + i, 'invoice', 0, (i % 100000) / 100.0, '{19.00,7.00}', '{bulk}', jsonb_build_object('batch', $1::bigint, 'i', i), NULL,
				repeat('x', 200), 1, DATE '2024-01-01', TIMESTAMPTZ '2024-01-01 00:00:00+00'
			FROM (SELECT coalesce(max("DocId"), 0) + 1000000 AS base FROM "Document") b, generate_series(1, $1::bigint) i`, n); err != nil {
			return bigTxResult{}, fmt.Errorf("write a transaction of %d rows: %w", n, err)
		}
		end, err := benchkit.MarkEnd(ctx, fc.conn, benchkit.WorkloadWide)
		if err != nil {
			return bigTxResult{}, err
		}
		m, _, err := fc.run(ctx, slot, modes[0], "", end, nil)
		if err != nil {
			return bigTxResult{}, fmt.Errorf("big transaction of %d rows: %w", n, err)
		}
		if int64(m.captured) < n {
			return bigTxResult{}, fmt.Errorf("big transaction of %d rows: cdcflow captured %.0f changes", n, m.captured)
		}
		fmt.Fprintf(os.Stderr, "big transaction: %d rows in %.3fs, %.3f CPU s, %d KiB peak RSS\n", n, m.Seconds, m.CPU, m.MaxRSS)
		return bigTxResult{rows: n, m: m}, benchkit.DropSlot(ctx, fc.conn, slot)
	}
}

// reportBigTx prints the peak resident set of each transaction size and
// its difference to the smallest one's.
func reportBigTx(out io.Writer, res []bigTxResult) {
	if len(res) == 0 {
		return
	}
	fmt.Fprintf(out, "\none transaction drained by cdcflow run (at-least-once, standalone cdcflow broker with SyncWrites):\n")
	base := res[0].m.MaxRSS
	for _, r := range res {
		fmt.Fprintf(out, "  %9d rows: %.3f s, %.3f CPU s, peak RSS %.1f MiB (%+.1f MiB vs %d rows)\n",
			r.rows, r.m.Seconds, r.m.CPU, float64(r.m.MaxRSS)/1024, float64(r.m.MaxRSS-base)/1024, res[0].rows)
	}
}

package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
	"github.com/cdcflow/cdcflow/internal/loadgen"
)

// latencyResult is the commit-to-ack latency under a steady load.
type latencyResult struct {
	mode                     mode
	targetRows, achievedRows float64 // captured row changes per second
	txRate                   float64 // the load generator's rate, transactions/s
	duration                 time.Duration
	batches                  float64 // observations of the histogram
	p50, p99                 float64 // seconds
	p50Bucket, p99Bucket     string  // the bucket each quantile fell into
	m                        measurement
}

// measureLatency streams with cdcflow run from a new slot while the load generator writes rowRate captured row changes per second
// for d, and reads p50 and p99 of cdcflow_kafka_commit_to_ack_seconds.
func measureLatency(ctx context.Context, fc flowConfig, dsn string, w benchkit.Workload, rowRate float64, d time.Duration, md mode) (*latencyResult, error) {
	perTx := float64(w.Changes) / float64(w.Transactions)
	res := &latencyResult{mode: md, targetRows: rowRate, txRate: rowRate / perTx, duration: d}
	if _, err := fc.conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", latencySlot); err != nil {
		return nil, fmt.Errorf("create slot %s: %w", latencySlot, err)
	}
	fmt.Fprintf(os.Stderr, "latency, %s: %.0f rows/s (%.1f transactions/s) for %s...\n", md, rowRate, res.txRate, d)
	load := func(ctx context.Context) (capture.LSN, error) {
		seed := uint64(2)
		if !md.syncWrites {
			seed++
		}
		if md.exactlyOnce {
			seed += 2
		}
		gen, err := loadgen.New(loadgen.Config{DSN: dsn, Seed: seed, Rate: res.txRate, Duration: d, Workers: 2})
		if err != nil {
			return 0, err
		}
		began := time.Now()
		if err := gen.Run(ctx); err != nil {
			return 0, fmt.Errorf("load: %w", err)
		}
		res.achievedRows = float64(benchkit.CapturedChanges(gen.Stats())) / time.Since(began).Seconds()
		return benchkit.MarkEnd(ctx, fc.conn, benchkit.WorkloadReference)
	}
	m, met, err := fc.run(ctx, latencySlot, md, "", 0, load)
	if err != nil {
		return nil, err
	}
	res.m = m
	buckets, err := histogram(met, "cdcflow_kafka_commit_to_ack_seconds")
	if err != nil {
		return nil, err
	}
	res.batches = buckets[len(buckets)-1].count
	res.p50, res.p50Bucket = quantile(buckets, 0.5)
	res.p99, res.p99Bucket = quantile(buckets, 0.99)
	return res, benchkit.DropSlot(ctx, fc.conn, latencySlot)
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	le    float64 // upper bound, seconds; +Inf for the last
	count float64 // observations at or below le
}

// histogram returns the buckets of a histogram (without labels other than
// le) from a scrape, by upper bound.
func histogram(m metrics, name string) ([]bucket, error) {
	var bs []bucket
	for s, v := range m {
		n, labels := series(s)
		if n != name+"_bucket" {
			continue
		}
		le, ok := strings.CutPrefix(labels, `le="`)
		if !ok {
			continue
		}
		bound, err := strconv.ParseFloat(strings.TrimSuffix(le, `"`), 64)
		if err != nil {
			return nil, fmt.Errorf("histogram %s: bucket %q: %w", name, le, err)
		}
		bs = append(bs, bucket{le: bound, count: v})
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("histogram %s not in /metrics", name)
	}
	slices.SortFunc(bs, func(a, b bucket) int { return compareFloat(a.le, b.le) })
	if bs[len(bs)-1].count == 0 {
		return nil, fmt.Errorf("histogram %s is empty", name)
	}
	return bs, nil
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// quantile estimates the q-quantile of cumulative buckets by linear
// interpolation within the bucket it falls into (as PromQL's
// histogram_quantile does), and names that bucket. A quantile in the +Inf
// bucket is reported as the highest finite bound.
func quantile(bs []bucket, q float64) (float64, string) {
	rank := q * bs[len(bs)-1].count
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower, fmt.Sprintf("> %s", ms(lower))
			}
			v := lower
			if b.count > below {
				v = lower + (b.le-lower)*(rank-below)/(b.count-below)
			}
			return v, fmt.Sprintf("%s to %s", ms(lower), ms(b.le))
		}
		lower, below = b.le, b.count
	}
	return lower, ""
}

// ms formats seconds as milliseconds.
func ms(s float64) string {
	return strconv.FormatFloat(s*1000, 'f', -1, 64) + " ms"
}

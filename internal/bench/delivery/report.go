package main

import (
	"fmt"
	"io"

	"github.com/cdcflow/cdcflow/internal/bench/benchkit"
)

// row is one reader's line of the table.
type row struct {
	name      string
	ms        []measurement
	changes   int64
	secs      []float64 // wall seconds of each run
	rate, cpu float64   // median rows/s; median CPU seconds
	events    float64   // events acknowledged per run
	rss       int64     // highest peak RSS over the runs, KiB
	startup   float64   // median seconds until cdcflow was ready; 0 for pg_recvlogical
	streaming float64   // median rows/s after cdcflow was ready
}

// summarize computes each reader's medians, in the order of names.
func summarize(w benchkit.Workload, names []string, results map[string][]measurement) []*row {
	var rows []*row
	for _, name := range names {
		r := &row{name: name, ms: results[name], changes: w.Changes}
		var cpus, ups, streams []float64
		for _, m := range r.ms {
			ups = append(ups, m.startup)
			streams = append(streams, float64(w.Changes)/(m.Seconds-m.startup))
			r.secs = append(r.secs, m.Seconds)
			cpus = append(cpus, m.CPU)
			r.rss = max(r.rss, m.MaxRSS)
			r.events = m.events
		}
		r.rate, r.cpu = float64(w.Changes)/benchkit.Median(r.secs), benchkit.Median(cpus)
		r.startup, r.streaming = benchkit.Median(ups), benchkit.Median(streams)
		rows = append(rows, r)
	}
	return rows
}

// report prints the throughput table, the verdicts and the latency.
func report(out io.Writer, w benchkit.Workload, runs int, rows []*row, lats []*latencyResult) {
	tw := benchkit.Table(out, w, runs, "reader", "rows/s (median)", "vs pg_recvlogical", "start-up s", "rows/s once ready", "events acked",
		"wall s per run", "CPU s (median)", "peak RSS MiB")
	for _, r := range rows {
		events := "-"
		if r.events > 0 {
			events = fmt.Sprintf("%.0f", r.events)
		}
		startup, streaming := "-", "-"
		if r.startup > 0 {
			startup, streaming = fmt.Sprintf("%.3f", r.startup), fmt.Sprintf("%.0f", r.streaming)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2fx\t%s\t%s\t%s\t%s\t%.3f\t%.1f\t\n", r.name, r.rate, r.rate/rows[0].rate, startup, streaming, events,
			benchkit.FormatSeconds(r.secs), r.cpu, float64(r.rss)/1024)
	}
	tw.Flush()
	for _, g := range []struct {
		r    *row
		goal float64
	}{{rows[1], 0.7}, {rows[3], 0.5}} {
		verdict := "met"
		if g.r.rate < g.goal*rows[0].rate {
			verdict = "MISSED"
		}
		fmt.Fprintf(out, "\nend to end, %s / pg_recvlogical: %.2fx (goal %.2fx or better: %s)", g.r.name, g.r.rate/rows[0].rate, g.goal, verdict)
	}
	if n := rows[3].ms[0].transactions; n > 0 {
		fmt.Fprintf(out, "\nexactly-once, SyncWrites on: %.0f Kafka transactions per run (%.0f events each)", n, rows[3].events/n)
	}
	fmt.Fprintln(out)
	for _, lat := range lats {
		verdict := "met"
		if lat.p99 >= 0.050 {
			verdict = "MISSED"
		}
		fmt.Fprintf(out, "\ncommit-to-ack latency, %s, load %.0f rows/s (%.1f tx/s target, %.0f rows/s achieved) for %s, %.0f batches:\n",
			lat.mode, lat.targetRows, lat.txRate, lat.achievedRows, lat.duration, lat.batches)
		fmt.Fprintf(out, "  p50 %.1f ms (bucket %s), p99 %.1f ms (bucket %s); goal p99 < 50 ms: %s\n",
			lat.p50*1000, lat.p50Bucket, lat.p99*1000, lat.p99Bucket, verdict)
		fmt.Fprintf(out, "  cdcflow: %.3f CPU s, %.1f MiB peak RSS, %.0f events acked\n", lat.m.CPU, float64(lat.m.MaxRSS)/1024, lat.m.events)
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

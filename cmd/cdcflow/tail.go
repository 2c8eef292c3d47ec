package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/capture/snapshot"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/progress"
)

func init() {
	register(command{name: "tail", summary: "print the captured change stream as JSON lines", run: runTail,
		example: "cdcflow tail --config cdcflow.yaml --table public.orders --temporary"})
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// runTail prints the decoded stream, one JSON object per message, and
// confirms to PostgreSQL what it has written to stdout, so a restart resumes
// after the last printed transaction.
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", stderr)
	path := configFlag(fs)
	var tables stringList
	fs.Var(&tables, "table", "print only this table (schema.table; repeatable); captured tables when capture.tables is empty")
	temporary := fs.Bool("temporary", false, "use a temporary slot, dropped when tail exits")
	mode := fs.String("snapshot", "", "snapshot mode for a new slot: initial, never or initial_only (default: capture.snapshot)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	rc := cfg.ReplicationConfig()
	if *temporary {
		rc.Temporary = true
	}
	if *mode != "" {
		rc.SnapshotMode = replication.SnapshotMode(*mode)
	}
	if len(rc.Tables) == 0 {
		rc.Tables = tables
	}
	filter := make(map[replication.TableName]bool)
	for _, t := range tables {
		n, err := replication.ParseTableName(t)
		if err != nil {
			return fmt.Errorf("%w: --table: %v", errUsage, err)
		}
		filter[n] = true
	}
	// Log records and the snapshot's bars share stderr on a terminal.
	stderr = liveStderr(stderr, progress.IsTerminal(stderr))
	log := tailLogger(cfg.Log, stderr)
	var bars io.Writer // a progress bar on a terminal; log records otherwise
	if progress.IsTerminal(stderr) {
		bars = stderr
	}
	rc.Snapshot.Progress = snapshotProgress(bars, log)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r, err := replication.New(rc, log, replication.NewMetrics(reg))
	if err != nil {
		return err
	}
	if err := r.WithSnapshotMetrics(snapshot.NewMetrics(reg)); err != nil {
		return err
	}
	// Say everything that is not ready at once, with the fixes; an
	// unreachable server is left to Run, which retries.
	if err := replication.Preflight(ctx, rc); err != nil {
		if errors.As(err, new(*replication.NotReadyError)) {
			return err
		}
		log.Warn("preflight check failed", "err", err)
	}

	var ready atomic.Bool
	out := bufio.NewWriterSize(stdout, 64<<10)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	handle := func(ctx context.Context, msgs []capture.Message) error {
		for _, m := range msgs {
			if _, ok := m.(*capture.Connected); ok {
				ready.Store(true)
			}
			line, ok := tailLine(m, filter)
			if !ok {
				continue
			}
			if err := enc.Encode(line); err != nil {
				return fmt.Errorf("write stdout: %w", err)
			}
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
		// Printed means handled: the slot may move past it.
		if p := capture.Confirmable(msgs); p != 0 {
			r.Confirm(p)
		}
		return nil
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(ctx, handle) })
	if cfg.Metrics.Addr != "" {
		g.Go(func() error { return serveTailMetrics(ctx, cfg.Metrics.Addr, reg, &ready) })
	}
	return sourceError(g.Wait()) // after a signal, context.Canceled: main treats it as a clean exit
}

// tailLine renders a message as the object tail prints, or false when the
// table filter hides it. Heartbeats are not printed.
func tailLine(m capture.Message, filter map[replication.TableName]bool) (map[string]any, bool) {
	switch m := m.(type) {
	case *capture.Connected:
		return map[string]any{"type": "connected", "source": m.Source.URI(), "start_lsn": m.StartLSN.String(), "new_source": m.NewSource}, true
	case *capture.Begin:
		return map[string]any{"type": "begin", "lsn": m.FinalLSN.String(), "xid": m.XID, "commit_time": tailTime(m.CommitTime)}, true
	case *capture.Commit:
		return map[string]any{"type": "commit", "lsn": m.FinalLSN.String(), "end_lsn": m.EndLSN.String(), "xid": m.XID, "commit_time": tailTime(m.CommitTime)}, true
	case *capture.Marker:
		if m.Kind == capture.MarkerHeartbeat {
			return nil, false
		}
		var tables []string
		for _, rel := range m.Tables {
			tables = append(tables, rel.QualifiedName())
		}
		return map[string]any{"type": m.Kind.String(), "epoch": m.Epoch, "lsn": m.LSN.String(), "time": tailTime(m.Time), "tables": tables}, true
	case *capture.Change:
		if len(filter) > 0 && !tailShown(m, filter) {
			return nil, false
		}
		line := map[string]any{
			"type": m.Op.String(), "lsn": m.FinalLSN.String(), "index": m.Index, "xid": m.XID,
			"commit_time": tailTime(m.CommitTime), "table": m.Relation.QualifiedName(),
		}
		if m.Op == capture.OpRead {
			line["epoch"] = m.Epoch
		}
		if m.Op == capture.OpTruncate {
			var names []string
			for _, rel := range m.Truncated {
				names = append(names, rel.QualifiedName())
			}
			line["tables"], line["cascade"], line["restart_identity"] = names, m.Cascade, m.RestartIdentity
			return line, true
		}
		if m.Old != nil {
			line["old"], _ = tailRow(m.Relation, m.Old)
		}
		if m.New != nil {
			row, unchanged := tailRow(m.Relation, m.New)
			line["new"] = row
			if len(unchanged) > 0 {
				line["unchanged"] = unchanged
			}
		}
		return line, true
	}
	return nil, false
}

func tailShown(c *capture.Change, filter map[replication.TableName]bool) bool {
	rels := c.Truncated
	if len(rels) == 0 {
		rels = []*capture.Relation{c.Relation}
	}
	for _, rel := range rels {
		if rel != nil && filter[replication.TableName{Schema: rel.Schema, Table: rel.Table}] {
			return true
		}
	}
	return false
}

func tailTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// tailRow renders a tuple as column -> JSON value; absent columns are left
// out, unchanged TOAST values too, and listed.
func tailRow(rel *capture.Relation, vals []capture.Value) (map[string]any, []string) {
	row := make(map[string]any, len(vals))
	var unchanged []string
	for i, v := range vals {
		if i >= len(rel.Columns) {
			break
		}
		name := rel.Columns[i].Name
		switch v.Kind {
		case capture.KindNull:
			row[name] = nil
		case capture.KindUnchangedTOAST:
			unchanged = append(unchanged, name)
		case capture.KindValue:
			row[name] = tailValue(v.Data)
		}
	}
	return row, unchanged
}

// tailValue renders a value as DESIGN.md's event JSON column says.
func tailValue(d any) any {
	switch d := d.(type) {
	case capture.Numeric:
		return string(d)
	case float64:
		switch {
		case math.IsNaN(d):
			return "NaN"
		case math.IsInf(d, 1):
			return "Infinity"
		case math.IsInf(d, -1):
			return "-Infinity"
		}
		return d
	case capture.LocalTime:
		return d.Format("2006-01-02T15:04:05.999999")
	case time.Time:
		return d.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
	case []byte:
		return base64.StdEncoding.EncodeToString(d)
	case json.RawMessage:
		if json.Valid(d) {
			return d
		}
		return string(d)
	case []any:
		out := make([]any, len(d))
		for i, e := range d {
			if e != nil {
				out[i] = tailValue(e)
			}
		}
		return out
	}
	return d
}

// tailLogger logs to w at the configured level, as text or JSON.
func tailLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serveTailMetrics serves /metrics, /healthz and /readyz (ready once the
// first replication session started) on addr until ctx is done.
func serveTailMetrics(ctx context.Context, addr string, reg *prometheus.Registry, ready *atomic.Bool) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not connected yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on metrics address: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return ctx.Err()
}

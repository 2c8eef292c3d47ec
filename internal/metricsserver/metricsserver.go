// Package metricsserver serves a process's Prometheus metrics with the
// Kubernetes probes beside them: /metrics, /healthz (the process serves) and
// /readyz (it is ready, as its owner says).
package metricsserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownTimeout bounds the wait for requests in flight once ctx is done.
const shutdownTimeout = 5 * time.Second

// Serve serves /metrics from reg, /healthz, and /readyz (200 while ready
// returns nil; 503 with the error's text, which says why, otherwise) on addr
// until ctx is done, then shuts the server down and returns ctx's error; it
// returns at once when addr cannot be listened on. ready is called from the
// server's goroutines.
func Serve(ctx context.Context, addr string, reg prometheus.Gatherer, ready func() error) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on metrics address: %w", err)
	}
	return serve(ctx, ln, reg, ready)
}

// serve is Serve on a listener it owns.
func serve(ctx context.Context, ln net.Listener, reg prometheus.Gatherer, ready func() error) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return ctx.Err()
}

// Ready returns a readiness check that is ready once ok holds true; before,
// it says "not started yet".
func Ready(ok *atomic.Bool) func() error {
	return func() error {
		if !ok.Load() {
			return errNotStarted
		}
		return nil
	}
}

var errNotStarted = errors.New("not started yet")

// RegisterProcess registers with reg the metrics that say a process is
// there: cdcflow_up{command,version}, 1 while it runs, and cdcflow_ready,
// 1 while ready returns nil (when /readyz answers 200). ready is called at
// every scrape, from the server's goroutines.
func RegisterProcess(reg prometheus.Registerer, command, version string, ready func() error) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "cdcflow_up",
			Help:        "1 while the process runs, with its command and version.",
			ConstLabels: prometheus.Labels{"command": command, "version": version},
		}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cdcflow_ready",
			Help: "1 when the process is ready (/readyz answers 200), 0 when not.",
		}, func() float64 {
			if ready() != nil {
				return 0
			}
			return 1
		}),
	)
}
